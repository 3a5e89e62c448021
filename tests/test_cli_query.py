"""``spacecoop query`` and ``spacecoop queries``, run as a user runs them (a subprocess)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import Graph, URIRef

from spacecoop import cli, config
from spacecoop.engine.store import Engine
from spacecoop.linked import search_service
from spacecoop.saved import saved_queries as sq


def spacecoop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spacecoop", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_queries_lists_every_saved_query() -> None:
    out = spacecoop("queries")
    assert out.returncode == 0, out.stderr
    for q in sq.load_all():
        assert q.name in out.stdout


def test_the_table_shows_labels_rather_than_iris() -> None:
    out = spacecoop("query", "mission-contributions", "--param", "mission=change-6")
    assert out.returncode == 0, out.stderr
    # Cells wrap to fit the terminal, so look for short names.
    assert "DORN" in out.stdout and "France" in out.stdout and "European Space" in out.stdout
    assert "Chang'e 6" in out.stdout  # the ?mission column reads as the mission's name
    assert "https://spacecoop.example/resource/" not in out.stdout
    assert "2 rows" in out.stdout


def test_an_ask_query_answers_yes_or_no() -> None:
    out = spacecoop("query", "new-collaborations-announced")
    assert out.returncode == 0 and out.stdout.strip() == "no"


def test_json_output_is_sparql_results_json() -> None:
    out = spacecoop("query", "agencies-ranked-by-missions", "--param", "min=3", "--format", "json")
    data = json.loads(out.stdout)
    assert data["head"]["vars"] == ["party", "partyLabel", "type", "missions"]
    assert all(int(b["missions"]["value"]) >= 3 for b in data["results"]["bindings"])


def test_csv_output_has_a_header_and_one_line_per_row() -> None:
    out = spacecoop("query", "missions-by-status", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["status", "statusLabel", "mission", "missionLabel"]
    assert len(rows) - 1 == len(json.loads((config.EXPECTED_DIR / "missions-by-status.json").read_text())["rows"])


def test_a_construct_query_prints_turtle() -> None:
    out = spacecoop("query", "mission-neighbourhood", "--param", "mission=change-6", "--format", "turtle")
    assert out.returncode == 0, out.stderr
    g = Graph().parse(data=out.stdout, format="turtle")
    nils = URIRef(config.resource_iri("nils"))
    assert (nils, URIRef(str(config.SC.carriedOn)), URIRef(config.resource_iri("change-6"))) in g


def test_turtle_is_refused_for_a_select_with_the_formats_to_use() -> None:
    out = spacecoop("query", "missions-by-status", "--format", "turtle")
    assert out.returncode == 1 and "use table, json or csv" in out.stderr


def test_file_runs_any_query_file(tmp_path: Path) -> None:
    rq = tmp_path / "count.rq"
    rq.write_text("PREFIX sc: <https://spacecoop.example/ontology#>\n"
                  "SELECT (COUNT(?m) AS ?missions) WHERE { ?m a sc:Mission }\n")
    out = spacecoop("query", "--file", str(rq), "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "missions" and int(out.stdout.splitlines()[1]) >= 10


def test_file_with_a_header_takes_its_declared_parameters(tmp_path: Path) -> None:
    rq = tmp_path / "label.rq"
    rq.write_text("#+ params:\n#+   - name: thing\n#+     type: iri\n"
                  "SELECT ?thing ?label WHERE { ?thing <http://www.w3.org/2000/01/rdf-schema#label> ?label "
                  'FILTER(LANG(?label) = "zh") }\n')
    out = spacecoop("query", "--file", str(rq), "--param", "thing=tianwen-3", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert [b["label"]["value"] for b in json.loads(out.stdout)["results"]["bindings"]] == ["天问三号"]


@pytest.mark.parametrize(("args", "message"), [
    (["mission-contributions", "--param", "mission=<a> } UNION { ?s ?p ?o"], "parameter 'mission' must be an IRI"),
    (["timeline", "--param", "from=13/01/2026"], "parameter 'from' must be a date written YYYY-MM-DD"),
    (["agencies-ranked-by-missions", "--param", "min=many"], "parameter 'min' must be a whole number"),
    (["mission-contributions", "--param", "colour=red"], "is not a parameter of 'mission-contributions'"),
    (["mission-contributions", "--param", "mission"], "write parameters as --param KEY=VALUE"),
    (["missions-by-statu"], "did you mean missions-by-status?"),
    (["--file", "no/such/file.rq"], "no/such/file.rq: no such file"),
    ([], "name a saved query"),
])
def test_a_mistake_exits_1_saying_what_to_fix(args: list[str], message: str) -> None:
    out = spacecoop("query", *args)
    assert out.returncode == 1
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_a_broken_query_file_is_reported_with_its_line(tmp_path: Path) -> None:
    rq = tmp_path / "broken.rq"
    rq.write_text("SELECT ?a WHERE {\n  ?a ?b\n}\n")
    out = spacecoop("query", "--file", str(rq))
    assert out.returncode == 1 and f"{rq}:" in out.stderr and "SPARQL syntax error" in out.stderr


def test_update_expected_rewrites_on_request_and_says_what_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(config, "EXPECTED_DIR", tmp_path)
    assert cli.main(["query", "--update-expected", "missions-by-status"]) == 0
    assert "new       missions-by-status" in capsys.readouterr().out
    (tmp_path / "missions-by-status.json").write_text("{}")
    assert cli.main(["query", "--update-expected", "missions-by-status"]) == 0
    out = capsys.readouterr().out
    assert "changed   missions-by-status" in out and "1 changed" in out
    assert json.loads((tmp_path / "missions-by-status.json").read_text())["query"] == "missions-by-status"


def test_find_by_label_searches_the_label_index_on_the_command_line_too() -> None:
    # The label index's SERVICE is answered by the CLI as by the server: typo forgiven, best first.
    r = spacecoop("query", "find-by-label", "--param", "text=Einstien", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["results"]["bindings"]
    assert rows and rows[0]["entity"]["value"].endswith("/resource/einstein-probe")


def test_find_by_label_on_a_loaded_store_uses_the_index_the_load_built(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert spacecoop("load", "--store", f"oxigraph:{store}").returncode == 0
    assert (store / "spacecoop-dumps" / "search.sqlite").is_file()
    r = spacecoop("query", "find-by-label", "--param", "text=smile", "--store", f"oxigraph:{store}",
                  "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"]["bindings"][0]["entity"]["value"].endswith("/resource/smile")
    # The index the query used is the load's, not one built for the run.
    engine = Engine(config.Settings(store=f"oxigraph:{store}"))
    engine.start_local()
    try:
        index = search_service.LocalIndex(engine)()
        assert index is not None and index.path == store / "spacecoop-dumps" / "search.sqlite"
    finally:
        engine.close()
