"""The formats table (``rdf.formats``) says what pyoxigraph, rdflib, the engine, the loader and
the protocol endpoint really do with each format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Dataset, Graph

from spacecoop import config
from spacecoop.engine.store import Engine, Job
from spacecoop.rdf import formats, loader
from spacecoop.web import sparql

EX = "http://ex.example/"
TRIPLES = [ox.Triple(ox.NamedNode(f"{EX}s{i}"), ox.NamedNode(f"{EX}p"), ox.Literal(f"value {i}", language="en"))
           for i in range(3)]
GRAPH = ox.NamedNode(f"{EX}g")
QUADS = [ox.Quad(t.subject, t.predicate, t.object, GRAPH) for t in TRIPLES]


def oxigraph_of(f: formats.Format) -> ox.RdfFormat | ox.QueryResultsFormat:
    return f.results_format if f.results else f.rdf_format


@pytest.mark.parametrize("f", formats.ALL, ids=lambda f: f.name)
def test_each_row_names_the_media_type_and_extension_pyoxigraph_gives_its_format(f: formats.Format) -> None:
    own = oxigraph_of(f)
    assert own.media_type.split(";")[0] == f.media_type
    assert own.file_extension == f.extension
    if not f.results:
        assert own.supports_datasets == f.quads or f is formats.JSON_LD  # JSON-LD may, our files do not


@pytest.mark.parametrize("family", [formats.RESULT_FORMATS, formats.RDF_FORMATS], ids=["results", "rdf"])
def test_every_name_media_type_and_extension_leads_back_to_its_own_row(family: tuple[formats.Format, ...]) -> None:
    for f in family:
        assert all(formats.by_name(n.upper(), family) is f for n in f.short_names), f.name
        assert all(formats.by_media_type(m + "; charset=utf-8", family) is f for m in f.media_types), f.name
        assert all(formats.by_extension("." + e, family) is f for e in f.extensions), f.name


@pytest.mark.parametrize("f", formats.RDF_FORMATS, ids=lambda f: f.name)
def test_rdflib_reads_a_file_in_the_format_the_row_names_for_it(f: formats.Format) -> None:
    body = ox.serialize(QUADS if f.quads else TRIPLES, format=f.rdf_format)
    assert body is not None
    graph = Dataset() if f.quads else Graph()
    graph.parse(data=body.decode("utf-8"), format=f.rdflib)
    assert len(graph) == len(TRIPLES)


@pytest.mark.parametrize("f", formats.RDF_FORMATS, ids=lambda f: f.name)
def test_the_loader_reads_a_file_by_each_extension_of_its_row(tmp_path: Path, f: formats.Format) -> None:
    body = ox.serialize(QUADS if f.quads else TRIPLES, format=f.rdf_format)
    for ext in f.extensions:
        path = tmp_path / f"part.{ext.upper()}"  # the extension's case does not matter
        path.write_bytes(body or b"")
        (source,) = loader.user_sources([path])
        graphs = {q.graph_name.value for q in loader.read_quads(source)}
        # A dataset keeps its own graphs; a file of triples becomes graph/<stem>.
        assert graphs == ({GRAPH.value} if f.quads else {config.graph_iri("part")}), ext


def test_the_loader_refuses_an_extension_the_table_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("<http://a/> <http://b/> <http://c/> .\n")
    with pytest.raises(loader.LoadError) as err:
        loader.user_sources([path])
    assert "'.txt'" in str(err.value) and ".ttl" in str(err.value) and ".owl" in str(err.value)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    data = tmp_path_factory.mktemp("formats") / "small.nt"
    data.write_bytes(ox.serialize(TRIPLES, format=ox.RdfFormat.N_TRIPLES) or b"")
    e = Engine(config.Settings(store="oxigraph", data_files=(str(data),)))
    e.start_local()
    yield e
    e.close()


@pytest.mark.parametrize("f", list(formats.GRAPH_ANSWERS.values()), ids=lambda f: f.name)
def test_the_engine_writes_a_graph_answer_in_the_rows_format_under_its_media_type(engine: Engine,
                                                                                  f: formats.Format) -> None:
    answer = engine.run_sync(Job("CONSTRUCT WHERE { ?s ?p ?o }", graph_format=f.name))
    assert answer.media_type == f.media_type
    assert len(list(ox.parse(answer.body, format=f.rdf_format))) == len(TRIPLES)


@pytest.mark.parametrize("f", formats.RESULT_FORMATS, ids=lambda f: f.name)
def test_the_engine_writes_a_select_answer_in_the_rows_format_under_its_media_type(engine: Engine,
                                                                                   f: formats.Format) -> None:
    answer = engine.run_sync(Job("SELECT ?s WHERE { ?s ?p ?o }", result_format=f.name))
    assert answer.media_type == f.media_type
    if f is formats.CSV:  # pyoxigraph reads no CSV (it loses the terms' kinds): a header and a line a row
        head, *rows = answer.body.decode().splitlines()
        assert head == "s" and sorted(rows) == sorted(t.subject.value for t in TRIPLES)
    else:
        assert len(list(ox.parse_query_results(answer.body, format=f.results_format))) == len(TRIPLES)


@pytest.mark.parametrize("form,answers", [("SELECT", formats.RESULT_FORMATS),
                                          ("CONSTRUCT", tuple(formats.GRAPH_ANSWERS.values()))])
def test_the_endpoint_answers_every_media_type_of_a_row_in_that_rows_format(
        form: str, answers: tuple[formats.Format, ...]) -> None:
    for f in answers:
        for media in f.media_types:
            choice = sparql.choose_format(form, media, None)
            assert (choice.graph_format if choice.graph else choice.result_format) == f.name, media
            assert choice.media_type == media and choice.canonical == f.media_type
        for name in f.short_names:
            assert sparql.choose_format(form, None, name).canonical == f.media_type, name
