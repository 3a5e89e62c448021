"""``spacecoop validate``: the data conforms, and each kind of curator mistake is caught.

Every file in ``tests/fixtures/broken/`` holds one fault and starts with
``# expect: <part of the message>``. A fixture is validated together with the bundled
data (``spacecoop validate data/ FILE``), which is how a curator checks a new file, so a
fixture only needs the faulty entity and can refer to scr:esa, scr:change-6, the article…

The real command runs as a subprocess (what a curator sees) and through the Python API
(what the report is made of).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyshacl
import pytest
from rdflib import Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import OWL, RDF, RDFS, SH

from spacecoop import config
from spacecoop.rdf.loader import bundled_sources, load_dataset
from spacecoop.validate import (
    Finding,
    Report,
    check_shapes,
    load_store,
    render_json,
    render_text,
    shape_sources,
    shapes_graph,
    validate,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
BROKEN = sorted((FIXTURES / "broken").glob("*.ttl"))
WARNINGS = sorted((FIXTURES / "warnings").glob("*.ttl"))
SC = str(config.SC)
JSON_KEYS = {"file", "focus", "focus_label", "path", "severity", "message", "fix", "value", "shape",
             "kind", "line", "column"}


# --- helpers ------------------------------------------------------------------------
def expected(fixture: Path) -> str:
    first = fixture.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# expect: (.+)", first)
    assert match, f"{fixture.name}: the first line must be '# expect: <part of the message>'"
    return match.group(1).strip()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command, as a curator runs it from the repository root."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "spacecoop", "validate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def subjects_of(fixture: Path) -> set[str]:
    return {str(s) for s in Graph().parse(fixture, format="turtle").subjects()}


def labels_of(fixture: Path) -> list[str]:
    return [str(o) for o in Graph().parse(fixture, format="turtle").objects(None, RDFS.label)]


def same_file(finding: Finding, path: Path) -> bool:
    return finding.file is not None and Path(finding.file).resolve() == path.resolve()


def text_of(f: Finding) -> str:
    return f.line_text() if f.kind == "syntax" else f"{f.message} Fix: {f.fix}"


@pytest.fixture(scope="module")
def bundled_report() -> Report:
    return validate()


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return Graph().parse(config.ONTOLOGY_DIR / "spacecoop.ttl", format="turtle")


@pytest.fixture(scope="module")
def shapes() -> Graph:
    srcs, errors = shape_sources()
    assert not errors
    store, _ = load_store(srcs)
    return shapes_graph(store)


# --- the bundled graph ----------------------------------------------------------------
def test_bundled_data_conforms_with_exit_code_0() -> None:
    result = run_cli()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK  0 violations" in result.stdout
    assert "Traceback" not in result.stderr


def test_bundled_data_has_no_violations_and_no_warnings(bundled_report: Report) -> None:
    problems = [f.line_text() for f in bundled_report.findings if f.severity in ("Violation", "Warning")]
    assert bundled_report.conforms and not problems, "\n".join(problems)
    assert len(bundled_report.files) == len(list(config.DATA_DIR.glob("*.ttl")))


def test_ontology_defines_every_term_the_data_uses() -> None:
    ds = load_dataset(bundled_sources(include_catalogue=False), base=config.CANONICAL_BASE)
    defined = {s for s in ds.graph(URIRef(config.graph_iri("ontology"))).subjects(RDF.type, None)}
    used = set()
    for s, p, o, g in ds.quads():
        if g is not None and str(g) != config.graph_iri("ontology"):
            used |= {t for t in (s, p, o) if isinstance(t, URIRef) and str(t).startswith(SC)}
    assert used, "the data uses no ontology term at all?"
    assert used <= defined, f"used but not defined: {sorted(map(str, used - defined))}"


def test_validating_the_bundled_data_takes_seconds_not_minutes(bundled_report: Report) -> None:
    # The shapes-for-shapes verdict is cached by then (bundled_report ran first), as in use.
    assert validate().seconds < 10


# --- the shapes -------------------------------------------------------------------------
def test_shapes_conform_to_the_w3c_shapes_for_shapes() -> None:
    srcs, _ = shape_sources()
    store, _ = load_store(srcs)
    assert check_shapes(store, srcs, use_cache=False) == []


def test_a_broken_shape_is_reported_with_its_shape_file() -> None:
    bad = FIXTURES / "broken-shapes" / "bad-cardinality.ttl"
    report = validate(shapes=[config.SHAPES_DIR, bad])
    assert not report.conforms
    assert report.findings and all(f.kind == "shapes" and same_file(f, bad) for f in report.findings)
    assert any(expected(bad) in (f.path or "") for f in report.findings)
    assert "the shapes are not valid SHACL" in render_text(report)


def test_every_ontology_class_is_checked_by_a_shape_of_it_or_of_a_superclass(ontology: Graph,
                                                                               shapes: Graph) -> None:
    targeted = set(shapes.objects(None, SH.targetClass))
    for cls in ontology.subjects(RDF.type, OWL.Class):
        if isinstance(cls, URIRef):
            lineage = set(ontology.transitive_objects(cls, RDFS.subClassOf))
            assert lineage & targeted, f"no shape targets {cls} or a superclass"


def _named(g: Graph, node: object, predicate: URIRef) -> set[URIRef]:
    """IRIs a shape names by ``predicate``: directly, in an sh:or, or in an sh:node."""
    found = {c for c in g.objects(node, predicate) if isinstance(c, URIRef)}
    for lst in g.objects(node, SH["or"]):
        for member in Collection(g, lst):
            found |= _named(g, member, predicate)
    for shape in g.objects(node, SH.node):
        found |= _named(g, shape, predicate)
    return found


def _classes(g: Graph, node: object) -> set[URIRef]:
    """Classes named by sh:class, sh:or of sh:class, or an sh:node holding sh:class."""
    return _named(g, node, SH["class"])


def _datatypes(g: Graph, node: object) -> set[URIRef]:
    """Datatypes named by sh:datatype, directly, in an sh:or, or in an sh:node."""
    return _named(g, node, SH.datatype)


def _datatypes_of(ontology: Graph, rng: object) -> set[URIRef]:
    """The ontology's datatype range, with sc:DateValue unfolded to its union."""
    for equivalent in ontology.objects(rng, OWL.equivalentClass):
        return _union(ontology, equivalent)
    return {rng} if isinstance(rng, URIRef) else set()


def _union(g: Graph, node: object) -> set[URIRef]:
    if isinstance(node, URIRef):
        return {node}
    return {c for lst in g.objects(node, OWL.unionOf) for c in Collection(g, lst)}  # type: ignore[misc]


@pytest.mark.parametrize("kind", [OWL.ObjectProperty, OWL.DatatypeProperty])
def test_property_shapes_enforce_exactly_the_ontology_domains_and_ranges(ontology: Graph, shapes: Graph,
                                                                         kind: URIRef) -> None:
    for prop in ontology.subjects(RDF.type, kind):
        shape = shapes.value(None, SH.targetSubjectsOf, prop)
        assert shape is not None, f"no shape checks the use of {prop}"
        domain = ontology.value(prop, RDFS.domain)
        if domain is not None:
            assert _classes(shapes, shape) == _union(ontology, domain), f"domain of {prop}"
        value_shapes = [p for p in shapes.objects(shape, SH.property) if shapes.value(p, SH.path) == prop]
        assert value_shapes, f"no property shape for the values of {prop}"
        rng = ontology.value(prop, RDFS.range)
        if kind == OWL.ObjectProperty and rng == RDFS.Resource:  # any IRI (a cited web page)
            assert any(shapes.value(p, SH.nodeKind) == SH.IRI for p in value_shapes), f"range of {prop}"
        elif kind == OWL.ObjectProperty:
            ranges = set().union(*(_classes(shapes, p) for p in value_shapes))
            assert ranges == _union(ontology, rng), f"range of {prop}"
        else:
            assert set().union(*(_datatypes(shapes, p) for p in value_shapes)) == _datatypes_of(ontology, rng), (
                f"range of {prop}")


# --- broken fixtures: one fault each ------------------------------------------------------
def test_every_broken_fixture_says_what_it_expects() -> None:
    assert len(BROKEN) >= 12
    for fixture in BROKEN + WARNINGS:
        assert expected(fixture)


@pytest.mark.parametrize("fixture", BROKEN, ids=[f.stem for f in BROKEN])
def test_broken_fixture_fails_with_its_message_and_nothing_else(fixture: Path) -> None:
    report = validate([config.DATA_DIR, fixture])
    assert not report.conforms
    mine = [f for f in report.findings if same_file(f, fixture)]
    elsewhere = [f.line_text() for f in report.findings if not same_file(f, fixture) and f.severity != "Info"]
    assert mine, f"nothing reported in {fixture.name}: {[f.line_text() for f in report.findings]}"
    assert not elsewhere, f"{fixture.name} made the bundled data fail:\n" + "\n".join(elsewhere)
    for f in mine:  # only the intended fault fires
        assert expected(fixture) in text_of(f), f.line_text()
    stated = subjects_of(fixture) if not fixture.stem.startswith("syntax") else set()
    for f in mine:
        if f.kind == "data" and not (f.focus or "").startswith("_:"):
            assert f.focus in stated, f"{f.focus} is not an entity of {fixture.name}"


@pytest.mark.parametrize("fixture", BROKEN, ids=[f.stem for f in BROKEN])
def test_the_command_exits_1_and_names_file_entity_and_message(fixture: Path) -> None:
    result = run_cli(str(config.DATA_DIR.relative_to(ROOT)), str(fixture.relative_to(ROOT)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert expected(fixture) in result.stdout
    assert str(fixture.relative_to(ROOT)) in result.stdout
    if not fixture.stem.startswith("syntax"):  # the entity, by IRI (or by label for a blank node)
        names = [f"<{s}>" for s in subjects_of(fixture)] + labels_of(fixture)
        assert any(name in result.stdout for name in names), result.stdout


@pytest.mark.parametrize("fixture", WARNINGS, ids=[f.stem for f in WARNINGS])
def test_warnings_alone_exit_0_but_are_printed(fixture: Path) -> None:
    result = run_cli(str(config.DATA_DIR.relative_to(ROOT)), str(fixture.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout
    assert "Warning" in result.stdout and expected(fixture) in result.stdout
    assert "OK  0 violations, 1 warning" in result.stdout


# --- the behaviours a curator relies on, by name ---------------------------------------------
def _only(fixture: str) -> list[Finding]:
    path = FIXTURES / "broken" / fixture
    return [f for f in validate([config.DATA_DIR, path]).findings if same_file(f, path)]


def test_missing_english_label_is_reported_with_the_fix() -> None:
    [f] = _only("missing-english-label.ttl")
    assert (f.severity, f.path, f.focus_label) == ("Violation", "rdfs:label", "Mission lunaire")
    assert f.message == "A mission needs an English label."
    assert f.fix and f.fix.startswith('add rdfs:label "…"@en')
    assert f.line_text().startswith("Violation  Mission lunaire <https://spacecoop.example/resource/lunar-test-mission>"
                                    "  property rdfs:label: A mission needs an English label. Fix: add rdfs:label")


def test_misspelt_property_is_flagged_with_a_suggestion() -> None:
    [f] = _only("unknown-property.ttl")
    assert f.path == "sc:lanchedOn" and f.shape == "scsh:UnknownTerm"
    assert f.fix and f.fix.startswith("did you mean sc:launchedOn?")


def test_launch_vehicle_pointing_to_an_agency_names_the_wrong_value() -> None:
    [f] = _only("launched-on-agency.ttl")
    assert (f.path, f.value, f.focus_label) == ("sc:launchedOn", "scr:esa", "Lunar test mission")


def test_a_term_invented_in_a_data_file_is_still_unknown(tmp_path: Path) -> None:
    new = tmp_path / "spaceports.ttl"
    new.write_text("""@prefix sc: <https://spacecoop.example/ontology#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
sc:Spaceport a owl:Class .
<https://spacecoop.example/resource/kourou> a sc:Spaceport .
""", encoding="utf-8")
    unknown = [f for f in validate([new]).findings if f.shape == "scsh:UnknownTerm"]
    assert {f.focus for f in unknown} == {SC + "Spaceport", str(config.SCR) + "kourou"}


def test_syntax_errors_in_several_files_are_all_reported_as_file_line_column(tmp_path: Path) -> None:
    first, second = tmp_path / "one.ttl", tmp_path / "two.ttl"
    first.write_text('@prefix sc: <https://spacecoop.example/ontology#> .\nsc:a sc:b "open ;\n', encoding="utf-8")
    second.write_text("@prefix sc: <https://spacecoop.example/ontology#> .\nsc:a sc:b scr:c .\n", encoding="utf-8")
    result = run_cli(str(first), str(second), str(FIXTURES / "broken" / "missing-english-label.ttl"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stdout.splitlines() if ".ttl:" in line]
    assert len(lines) == 2, result.stdout  # both broken files, and nothing about the valid one
    assert lines[0].startswith(f"{first}:2:11: ")
    assert lines[1] == f"{second}:2:11: The prefix scr: has not been declared"


def test_a_missing_file_or_empty_folder_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path / "nowhere.ttl"), str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "nowhere.ttl" in result.stdout and "no .ttl files in this folder" in result.stdout


def test_json_output_is_a_list_of_findings_with_the_documented_keys() -> None:
    fixture = FIXTURES / "broken" / "carried-on-agency.ttl"
    result = run_cli("--format", "json", "data", str(fixture.relative_to(ROOT)))
    assert result.returncode == 1
    findings = json.loads(result.stdout)
    assert isinstance(findings, list) and findings
    assert all(set(f) == JSON_KEYS for f in findings)
    [mine] = [f for f in findings if f["file"] == str(fixture.relative_to(ROOT))]
    assert (mine["severity"], mine["path"], mine["value"]) == ("Violation", "sc:carriedOn", "scr:esa")
    assert mine["focus"] == str(config.SCR) + "lunar-test-instrument" and mine["shape"] == "scsh:carriedOnUse"


def test_json_of_the_bundled_data_parses(bundled_report: Report) -> None:
    assert isinstance(json.loads(render_json(bundled_report)), list)


def test_text_report_is_grouped_by_file_then_entity_without_colour_when_piped() -> None:
    fixture = FIXTURES / "broken" / "duplicate-english-label.ttl"
    out = run_cli("data", str(fixture.relative_to(ROOT))).stdout
    assert "\x1b[" not in out
    lines = out.splitlines()
    heading = lines.index(str(fixture.relative_to(ROOT)))
    body = lines[heading + 1:heading + 3]
    assert [line.split("<")[1].split(">")[0].rsplit("/", 1)[-1] for line in body] == [
        "lunar-test-mission", "lunar-test-mission-2"]
    assert lines[-1].startswith("FAIL  2 violations, 0 warnings")


def test_rdfs_range_inference_would_hide_a_wrong_launch_vehicle() -> None:
    """Why the validator does not ask pyshacl for inference="rdfs" (see docs/validate.md)."""
    fixture = FIXTURES / "broken" / "launched-on-agency.ttl"
    data = Graph()
    for path in [*(config.DATA_DIR.glob("*.ttl")), fixture]:
        data.parse(path, format="turtle")
    ontology = Graph().parse(config.ONTOLOGY_DIR / "spacecoop.ttl", format="turtle")
    shape = Graph().parse(data="""
        @prefix sh: <http://www.w3.org/ns/shacl#> . @prefix sc: <https://spacecoop.example/ontology#> .
        [] a sh:NodeShape ; sh:targetSubjectsOf sc:launchedOn ;
           sh:property [ sh:path sc:launchedOn ; sh:class sc:LaunchVehicle ] .""", format="turtle")
    inferred, _, _ = pyshacl.validate(data, shacl_graph=shape, ont_graph=ontology, inference="rdfs")
    checked, _, _ = pyshacl.validate(data, shacl_graph=shape, ont_graph=ontology, inference="none")
    assert inferred is True and checked is False  # RDFS concluded that ESA is a launch vehicle
