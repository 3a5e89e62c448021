"""Saved queries: every file parses, runs and gives its stored expected answer; parameters
are validated into RDF terms and can never change the query; the catalogue is published
as RDF in the SIB sparql-examples convention.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rdflib import Graph
from rdflib.compare import isomorphic

from spacecoop import config
from spacecoop.engine.store import Engine, bound_query, parse_json_rows
from spacecoop.linked import search_service
from spacecoop.rdf.sparql_text import facts, is_update
from spacecoop.saved import saved_queries as sq

QUERIES = sq.load_all()
NAMES = [q.name for q in QUERIES]
XSD = "http://www.w3.org/2001/XMLSchema#"
SH = "http://www.w3.org/ns/shacl#"
BASE = config.CANONICAL_BASE

# Values that try to end a string, an IRI or a group and append their own query text.
MALICIOUS = [
    'x" } ; DROP ALL ; #',
    "<a> } UNION { ?s ?p ?o",
    "x' } UNION { ?s ?p ?o } #",
    'x\\" } UNION { ?s ?p ?o } #',
    "x\\u0022 } UNION { ?s ?p ?o } #",
    "x\n} UNION { ?s ?p ?o } #",
    'smile> . ?s ?p ?o } #',
]


def run(engine: Engine, query: sq.SavedQuery, **values: str) -> sq.Outcome:
    return sq.outcome(engine.run_sync(sq.bind(query, values, graph_format="ntriples")))


def column(result: sq.Outcome, var: str) -> list[str]:
    return [sq.short(row[var]) for row in result.rows if var in row]


# --- the catalogue ----------------------------------------------------------------------
def test_the_catalogue_has_at_least_fifteen_queries_of_every_form() -> None:
    assert len(QUERIES) >= 15
    assert {q.form for q in QUERIES} == {"SELECT", "CONSTRUCT", "DESCRIBE", "ASK"}
    assert {p.type for q in QUERIES for p in q.params} == set(sq.PARAM_TYPES)


@pytest.mark.parametrize("name", NAMES)
def test_each_query_has_a_summary_description_and_tags(name: str) -> None:
    q = sq.get(name)
    assert q.title and len(q.title) < 100
    assert len(q.description) > 40, "say what the query answers in a sentence or two"
    assert q.tags and all(t == t.strip() and t for t in q.tags)
    for p in q.params:
        assert p.description, f"parameter {p.name} needs a description"


@pytest.mark.parametrize("name", NAMES)
def test_each_query_gives_its_expected_answer(engine: Engine, name: str) -> None:
    q = sq.get(name)
    result = sq.outcome(engine.run_sync(sq.answer_job(q)))
    diff = sq.compare(q, result, base=engine.settings.base)
    assert diff is None, (f"{name} no longer gives its expected answer. If the change is intended, "
                          f"run `spacecoop query --update-expected {name}` and review the diff:\n{diff}")


@pytest.mark.parametrize("name", [q.name for q in QUERIES if q.params])
def test_each_parameter_example_runs(engine: Engine, name: str) -> None:
    q = sq.get(name)
    values = {p.name: p.example for p in q.params if p.example}
    result = run(engine, q, **values)
    assert result.rows or result.boolean is not None, f"the example values of {name} find nothing"


def test_every_expected_file_belongs_to_a_query() -> None:
    stems = {p.stem for p in config.EXPECTED_DIR.iterdir() if p.suffix in (".json", ".ttl")}
    assert stems == set(NAMES)


@pytest.mark.parametrize("name", [q.name for q in QUERIES if "GROUP_CONCAT" not in q.sparql.upper()])
def test_each_query_gives_the_same_answer_on_the_rdflib_reference_engine(rdflib_engine: Engine, name: str) -> None:
    # GROUP_CONCAT is left out: the order of the concatenated values is engine-defined.
    q = sq.get(name)
    result = sq.outcome(rdflib_engine.run_sync(sq.answer_job(q)))
    if q.form == "DESCRIBE":
        # DESCRIBE's answer is engine-defined (SPARQL 1.1 §16.4): rdflib's concise bounded
        # description adds the reifications of the resource's triples (our citations),
        # Oxigraph does not. The rest must agree.
        result.rows = [r for r in result.rows if not _is_reification(result.rows, r["subject"])]
    assert sq.compare(q, result, base=rdflib_engine.settings.base) is None


def _is_reification(rows: list[dict[str, tuple]], node: tuple) -> bool:
    return any(r["subject"] == node and r["predicate"] == ("uri", str(config.RDF.subject)) for r in rows)


@pytest.fixture(scope="module")
def rdflib_engine() -> Iterator[Engine]:
    """The same graph on rdflib's SPARQL engine (the ``memory`` store)."""
    eng = Engine(config.Settings(store="memory"))
    eng.start_local()
    search_service.attach(eng)
    yield eng
    eng.close()


# --- expected answers: order, diffs, regeneration ----------------------------------------
def _outcome(vars_: list[str], rows: list[dict[str, tuple]]) -> sq.Outcome:
    return sq.Outcome("select", vars_, rows)


def _select(name: str, text: str) -> sq.SavedQuery:
    return sq.parse(f"#+ summary: S\n#+ description: D\n#+ tags: [t]\n{text}", name)


ROWS = [{"m": ("uri", BASE + f"resource/m{i}"), "n": ("literal", str(i), None, XSD + "integer")} for i in range(5)]


def test_an_unordered_answer_matches_in_any_row_order(tmp_path: Path) -> None:
    q = _select("unordered", "SELECT ?m ?n WHERE { ?m ?p ?n }")
    (tmp_path / "unordered.json").write_text(sq.render_expected(q, _outcome(["m", "n"], ROWS), BASE))
    shuffled = ROWS[:]
    random.Random(7).shuffle(shuffled)
    assert sq.compare(q, _outcome(["m", "n"], shuffled), tmp_path, BASE) is None


def test_an_ordered_answer_must_keep_its_row_order(tmp_path: Path) -> None:
    q = _select("ordered", "SELECT ?m ?n WHERE { ?m ?p ?n } ORDER BY ?n")
    (tmp_path / "ordered.json").write_text(sq.render_expected(q, _outcome(["m", "n"], ROWS), BASE))
    diff = sq.compare(q, _outcome(["m", "n"], list(reversed(ROWS))), tmp_path, BASE)
    assert diff is not None and diff.startswith("---")


def test_a_changed_answer_shows_as_a_readable_row_diff(tmp_path: Path) -> None:
    q = _select("changed", "SELECT ?m ?n WHERE { ?m ?p ?n }")
    (tmp_path / "changed.json").write_text(sq.render_expected(q, _outcome(["m", "n"], ROWS), BASE))
    changed = [*ROWS[:4], {"m": ("uri", BASE + "resource/new"), "n": ("literal", "Neu", "de", None)}]
    diff = sq.compare(q, _outcome(["m", "n"], changed), tmp_path, BASE)
    assert diff is not None
    assert '-    {"m": "scr:m4", "n": "\\"4\\"^^xsd:integer"}' in diff
    assert '+    {"m": "scr:new", "n": "\\"Neu\\"@de"}' in diff


def test_duplicate_rows_count_in_the_comparison(tmp_path: Path) -> None:
    q = _select("dupes", "SELECT ?m ?n WHERE { ?m ?p ?n }")
    (tmp_path / "dupes.json").write_text(sq.render_expected(q, _outcome(["m", "n"], ROWS), BASE))
    assert sq.compare(q, _outcome(["m", "n"], [*ROWS, ROWS[0]]), tmp_path, BASE) is not None


def test_a_graph_answer_is_compared_by_isomorphism_and_diffed_as_triples(engine: Engine, tmp_path: Path) -> None:
    q = sq.get("mission-neighbourhood")
    result = sq.outcome(engine.run_sync(sq.answer_job(q)))
    (tmp_path / "mission-neighbourhood.ttl").write_text(sq.render_expected(q, result, BASE))
    assert isomorphic(Graph().parse(tmp_path / "mission-neighbourhood.ttl"),
                      Graph().parse(config.EXPECTED_DIR / "mission-neighbourhood.ttl"))
    fewer = sq.Outcome(result.kind, result.vars, result.rows[1:])
    diff = sq.compare(q, fewer, tmp_path, BASE)
    assert diff is not None and re.search(r"^-<https://spacecoop\.example/", diff, re.M)


def test_a_missing_expected_file_says_how_to_create_it(tmp_path: Path) -> None:
    q = _select("nothing-yet", "SELECT ?m WHERE { ?m ?p ?o }")
    message = sq.compare(q, _outcome(["m"], []), tmp_path, BASE)
    assert message is not None and "spacecoop query --update-expected nothing-yet" in message


def test_update_expected_writes_new_rewrites_changed_and_keeps_unchanged(engine: Engine, tmp_path: Path) -> None:
    chosen = [sq.get("missions-by-status"), sq.get("new-collaborations-announced"), sq.get("describe-mission")]
    first = sq.update_expected(engine, chosen, tmp_path, remove_stale=False)
    assert sorted(first["new"]) == sorted(q.name for q in chosen)
    (tmp_path / "missions-by-status.json").write_text(
        (tmp_path / "missions-by-status.json").read_text().replace("SMILE", "SMILE (edited)"))
    (tmp_path / "stale.json").write_text("{}")
    second = sq.update_expected(engine, chosen, tmp_path, remove_stale=True)
    assert second["changed"] == ["missions-by-status"]
    assert sorted(second["unchanged"]) == ["describe-mission", "new-collaborations-announced"]
    assert second["removed"] == ["stale.json"]
    assert "SMILE (edited)" not in (tmp_path / "missions-by-status.json").read_text()


# --- parameters are validated into terms ----------------------------------------------
@pytest.mark.parametrize(("kind", "raw", "term"), [
    ("iri", "smile", ("uri", BASE + "resource/smile")),
    ("iri", " scr:smile ", ("uri", BASE + "resource/smile")),
    ("iri", "sc:Mission", ("uri", BASE + "ontology#Mission")),
    ("iri", BASE + "resource/smile", ("uri", BASE + "resource/smile")),
    ("iri", "http://www.wikidata.org/entity/Q1", ("uri", "http://www.wikidata.org/entity/Q1")),
    ("string", ' spaces and "quotes" kept ', ("literal", ' spaces and "quotes" kept ', None, None)),
    ("language", "zh-Hans", ("literal", "zh-hans", None, None)),
    ("integer", "-42", ("literal", "-42", None, XSD + "integer")),
    ("integer", "007", ("literal", "7", None, XSD + "integer")),
    ("date", "2024-05-08", ("literal", "2024-05-08", None, XSD + "date")),
])
def test_valid_values_become_rdf_terms(kind: str, raw: str, term: tuple) -> None:
    assert sq.validate(sq.Param("p", kind), raw, BASE) == term


@pytest.mark.parametrize(("kind", "raw", "hint"), [
    ("iri", "not an iri", "absolute http(s) IRI"),
    ("iri", "ftp://example.org/x", "absolute http(s) IRI"),
    ("iri", "unknownprefix:x", "prefixed name"),
    ("iri", "http://x/a>b", "absolute http(s) IRI"),
    ("iri", "http://x/{a}", "absolute http(s) IRI"),
    ("language", "en_GB", "BCP 47"),
    ("language", "e n", "BCP 47"),
    ("integer", "3.5", "whole number"),
    ("integer", "1e3", "whole number"),
    ("integer", "9" * 40, "whole number"),
    ("date", "2024-02-30", "YYYY-MM-DD"),
    ("date", "2024-5-8", "YYYY-MM-DD"),
    ("date", "2024", "YYYY-MM-DD"),
    ("string", "x" * (sq.MAX_STRING + 1), "longer than"),
])
def test_invalid_values_are_refused_with_what_to_send(kind: str, raw: str, hint: str) -> None:
    with pytest.raises(sq.ParamError) as err:
        sq.validate(sq.Param("p", kind), raw, BASE)
    assert hint in err.value.message and err.value.param == "p"


def test_a_slug_binds_to_the_deployments_own_base() -> None:
    assert sq.validate(sq.Param("m", "iri"), "smile", "https://kg.example.org/") == \
        ("uri", "https://kg.example.org/resource/smile")
    assert sq.validate(sq.Param("m", "iri"), BASE + "resource/smile", "https://kg.example.org/") == \
        ("uri", "https://kg.example.org/resource/smile")


def test_unknown_parameters_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(sq.ParamError, match=r"parameter 'colour' is not a parameter of 'mission-contributions' "
                                            r"\(it takes mission\)"):
        sq.bind(sq.get("mission-contributions"), {"colour": "red"})


def test_omitted_and_empty_values_take_the_default_or_stay_unbound() -> None:
    q = sq.get("timeline")
    assert sq.bind(q, {}).bindings == ()
    assert sq.bind(q, {"from": "", "until": "2024-12-31"}).bindings == \
        (("until", ("literal", "2024-12-31", None, XSD + "date")),)
    assert sq.bind(sq.get("mission-contributions"), {"mission": " "}).bindings == \
        (("mission", ("uri", config.BASE + "resource/smile")),)


# --- …and can never change the query -----------------------------------------------------
@pytest.mark.parametrize("value", MALICIOUS)
def test_an_injection_attempt_in_an_iri_parameter_is_refused(value: str) -> None:
    with pytest.raises(sq.ParamError, match="must be an IRI"):
        sq.bind(sq.get("mission-contributions"), {"mission": value})


@pytest.mark.parametrize("value", MALICIOUS)
def test_an_injection_attempt_in_a_string_parameter_is_only_ever_a_literal(engine: Engine, value: str) -> None:
    q = sq.get("find-by-label")
    job = sq.bind(q, {"text": value})
    # The query text is the file's, byte for byte; the value travels as a term.
    assert job.query == q.sparql
    assert job.bindings == (("text", ("literal", value, None, None)),)
    # The text the engine receives differs from a harmless binding only inside one literal.
    harmless = bound_query(sq.bind(q, {"text": "harmless"}))
    sent = bound_query(job)
    assert sent.count('"harmless"') == 0 and harmless.count('"harmless"') == 1
    prefix, suffix = harmless.split('"harmless"')
    assert sent.startswith(prefix) and sent.endswith(suffix)
    assert facts(sent).form == "SELECT" and not is_update(sent)
    # It runs as a search for that exact text: nothing matches, nothing is dropped.
    assert run(engine, q, text=value).rows == []
    assert engine.run_sync(sq.bind(sq.get("new-collaborations-announced"), {})).body  # store still answers
    assert len(run(engine, q, text="Chang").rows) > 3


@pytest.mark.parametrize("value", MALICIOUS)
def test_an_injection_attempt_is_inert_on_the_rdflib_engine_too(rdflib_engine: Engine, value: str) -> None:
    # rdflib decodes \\u escapes before parsing; the escaped value must still stay one literal.
    result = sq.outcome(rdflib_engine.run_sync(sq.bind(sq.get("find-by-label"), {"text": value})))
    assert result.rows == []


# --- parameters reach the query, wherever it uses them --------------------------------------
def test_an_iri_parameter_selects_the_mission(engine: Engine) -> None:
    result = run(engine, sq.get("mission-contributions"), mission="change-6")
    assert set(column(result, "provider")) == {"scr:esa", "scr:france"}
    assert set(column(result, "mission")) == {"scr:change-6"}


def test_date_parameters_keep_events_that_may_fall_in_the_period(engine: Engine) -> None:
    q = sq.get("timeline")
    in_2024 = column(run(engine, q, **{"from": "2024-01-01", "until": "2024-12-31"}), "event")
    assert {"scr:einstein-probe-launch", "scr:change-6-landing", "scr:change-6-sample-departure"} <= set(in_2024)
    assert "scr:meeting-2026-01-13" not in in_2024 and "scr:meeting-2017" not in in_2024
    # A year-precision event counts as the whole year: 2017 falls in a period ending 2017-06-01.
    assert "scr:meeting-2017" in column(run(engine, q, until="2017-06-01"), "event")


def test_an_integer_parameter_filters_an_aggregate(engine: Engine) -> None:
    q = sq.get("agencies-ranked-by-missions")
    everyone = run(engine, q)
    at_least_3 = run(engine, q, min="3")
    assert 0 < len(at_least_3.rows) < len(everyone.rows)
    assert all(int(row["missions"][1]) >= 3 for row in at_least_3.rows)


def test_a_language_parameter_is_matched_by_langmatches(engine: Engine) -> None:
    q = sq.get("labels-missing-in-language")
    assert run(engine, q, lang="en").rows == []  # everything has an English label
    missing_zh = set(column(run(engine, q, lang="zh"), "entity"))
    assert "scr:earth-return-orbiter" in missing_zh and "scr:smile" not in missing_zh


def test_a_string_parameter_filters_the_catalogue_by_keyword(engine: Engine) -> None:
    result = run(engine, sq.get("query-catalogue"), tag="beginner")
    beginner = {q.name for q in QUERIES if "beginner" in q.tags}
    assert {row["query"][1].rsplit("/", 1)[1] for row in result.rows} == beginner


def test_describe_binds_its_parameter(engine: Engine) -> None:
    result = run(engine, sq.get("describe-mission"), mission="tianwen-3")
    assert set(column(result, "subject")) == {"scr:tianwen-3"}


# --- header convention and load errors ------------------------------------------------
GOOD = "#+ summary: S\n#+ description: D\n#+ tags: [t]\n"


@pytest.mark.parametrize(("text", "message"), [
    ("#+ description: D\n#+ tags: [t]\nASK {}", "needs `#+ summary:`"),
    ("#+ summary: S\n#+ tags: [t]\nASK {}", "needs `#+ description:`"),
    ("#+ summary: S\n#+ description: D\nASK {}", "needs `#+ tags:`"),
    (GOOD + "#+ sumary: typo\nASK {}", "unknown header key(s) sumary"),
    (GOOD + "#+ params:\n#+   - name: m\n#+     type: uri\nASK { ?m ?p ?o }", "type 'uri' is not one of"),
    (GOOD + "#+ params:\n#+   - name: m\n#+     type: iri\nASK { ?s ?p ?o }", "?m is not in the query"),
    (GOOD + "#+ params:\n#+   - name: format\n#+     type: string\nASK { ?format ?p ?o }", "must be a SPARQL variable"),
    (GOOD + "#+ params:\n#+   - name: d\n#+     type: date\n#+     default: soon\nASK { ?d ?p ?o }", "default/example"),
    (GOOD + "#+ method: POST\nASK {}", "read-only"),
    (GOOD + "#+ tags: [unclosed\nASK {}", "not valid YAML"),
    (GOOD + "SELEKT ?x WHERE { ?x ?p ?o }", "no SELECT, ASK, CONSTRUCT or DESCRIBE"),
])
def test_a_malformed_file_is_refused_with_its_name_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(sq.QueryFileError) as err:
        sq.parse(text, "bad", Path("queries/bad.rq"))
    assert str(err.value).startswith("queries/bad.rq") and message in str(err.value)


def test_a_sparql_syntax_error_points_at_the_file_line() -> None:
    with pytest.raises(sq.QueryFileError) as err:
        sq.parse(GOOD + "PREFIX x: <http://x/>\nSELECT ?a WHERE {\n  ?a ?b\n}\n", "bad", Path("queries/bad.rq"))
    assert "SPARQL syntax error" in str(err.value)
    # The line counts the header too, so an editor can jump to it.
    assert re.match(r"queries/bad\.rq:[4-8]: SPARQL syntax error at column \d+: ", str(err.value)), str(err.value)


def test_a_deployment_on_another_base_gets_query_text_on_that_base() -> None:
    text = (config.QUERIES_DIR / "missions-by-status.rq").read_text()
    q = sq.parse(text, "missions-by-status", base="https://kg.example.org/")
    assert "https://kg.example.org/ontology#" in q.sparql and config.CANONICAL_BASE not in q.sparql


def test_load_all_reads_a_folder_and_notices_edits(tmp_path: Path) -> None:
    (tmp_path / "one.rq").write_text(GOOD + "ASK { ?s ?p ?o }\n")
    assert [q.name for q in sq.load_all(tmp_path)] == ["one"]
    (tmp_path / "two.rq").write_text(GOOD.replace("S\n", "Second\n", 1) + "SELECT * WHERE { ?s ?p ?o }\n")
    assert [q.title for q in sq.load_all(tmp_path)] == ["S", "Second"]


def test_the_top_level_order_by_decides_whether_row_order_is_compared() -> None:
    assert _select("top", "SELECT ?a WHERE { ?a ?b ?c } ORDER BY DESC(?a)").ordered
    assert not _select("none", "SELECT ?a WHERE { ?a ?b ?c }").ordered
    assert not _select("sub", "SELECT ?a WHERE { { SELECT ?a WHERE { ?a ?b ?c } ORDER BY ?a LIMIT 2 } }").ordered


# --- the catalogue as RDF ---------------------------------------------------------------
def test_the_catalogue_graph_follows_the_sib_sparql_examples_convention() -> None:
    g = sq.catalogue_graph()
    endpoint = f"<{config.CANONICAL_BASE}sparql>"
    for q in QUERIES:
        form = {"SELECT": "sh:select", "CONSTRUCT": "sh:construct", "ASK": "sh:ask",
                "DESCRIBE": "spex:describe"}[q.form]
        ask = f"""PREFIX sh: <{SH}> PREFIX spex: <{sq.SPEX}> PREFIX schema: <https://schema.org/>
                  PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
                  ASK {{ <{config.SCQ}{q.name}> a sh:SPARQLExecutable ; {form} ?text ; rdfs:comment ?c ;
                         rdfs:label ?l ; schema:keywords ?k ; schema:target {endpoint} .
                         FILTER(LANG(?c) = "en" && STRLEN(?text) > 20) }}"""
        assert g.query(ask).askAnswer, q.name


def test_the_endpoint_lists_every_saved_query_with_the_sib_query(engine: Engine) -> None:
    sib = """PREFIX sh: <http://www.w3.org/ns/shacl#> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
             SELECT ?q ?c WHERE { ?q a sh:SPARQLExecutable ; rdfs:comment ?c }"""
    from spacecoop.engine.store import Job

    rows = parse_json_rows(engine.run_sync(Job(sib)).body)
    assert sorted(r["q"][1] for r in rows) == sorted(f"{config.SCQ}{n}" for n in NAMES)


def test_the_catalogue_lives_in_its_own_named_graph(engine: Engine) -> None:
    from spacecoop.engine.store import Job

    body = engine.run_sync(Job(f"""SELECT (COUNT(?q) AS ?n) WHERE {{
        GRAPH <{config.graph_iri('queries')}> {{ ?q a <{SH}SPARQLExecutable> }} }}""")).body
    assert json.loads(body)["results"]["bindings"][0]["n"]["value"] == str(len(QUERIES))
    body = engine.run_sync(Job(f"""ASK {{ GRAPH ?g {{ ?q a <{SH}SPARQLExecutable> }}
        FILTER(?g != <{config.graph_iri('queries')}>) }}""")).body
    assert json.loads(body)["boolean"] is False


@pytest.mark.parametrize("name", [q.name for q in QUERIES if q.params])
def test_a_query_without_its_parameters_answers_for_every_value(engine: Engine, name: str) -> None:
    # The editor tab and the published sh:select text run the query as it is, unbound.
    from spacecoop.engine.store import Job

    q = sq.get(name)
    unbound = sq.outcome(engine.run_sync(Job(q.sparql, graph_format="ntriples")))
    bound = sq.outcome(engine.run_sync(sq.answer_job(q)))
    assert len(unbound.rows) >= len(bound.rows) > 0
