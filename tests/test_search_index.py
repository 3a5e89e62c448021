"""The label index behind search (spacecoop.linked.search), on the bundled graph: real
pyoxigraph quads, a real SQLite file. Expected entities are asked of the graph by SPARQL,
never copied from the index's answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacecoop import config
from spacecoop.engine.store import Engine
from spacecoop.linked.search import Hit, SearchIndex, build_for_snapshot, build_index, scan, scan_chars
from spacecoop.rdf.loader import bundled_sources, load_oxigraph

LABEL = f"<{config.RDFS_LABEL}>"


@pytest.fixture(scope="module")
def store() -> ox.Store:
    st = ox.Store()
    load_oxigraph(st, bundled_sources())
    return st


@pytest.fixture(scope="module")
def quads(store: ox.Store) -> list[ox.Quad]:
    return list(store.quads_for_pattern(None, None, None, None))


@pytest.fixture(scope="module")
def index_path(quads: list[ox.Quad], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("search") / "labels.sqlite"
    build_index(quads, path)
    return path


@pytest.fixture(scope="module")
def index(index_path: Path) -> Iterator[SearchIndex]:
    with SearchIndex(index_path) as ix:
        yield ix


def labelled(store: ox.Store, label: str, lang: str) -> str:
    """The one entity with this rdfs:label, from the graph."""
    rows = list(store.query(f'SELECT DISTINCT ?s WHERE {{ ?s {LABEL} "{label}"@{lang} }}',
                            use_default_graph_as_union=True))
    assert len(rows) == 1, rows
    return str(rows[0]["s"].value)


def iris(hits: list[Hit]) -> list[str]:
    return [h.iri for h in hits]


def test_chinese_is_found_by_characters(store: ox.Store, index: SearchIndex) -> None:
    change6 = labelled(store, "嫦娥六号", "zh")
    assert change6 in iris(index.search("嫦娥"))
    assert iris(index.search("六号"))[:1] == [change6]
    hit = index.search("六号")[0]
    assert hit.label == "嫦娥六号" and hit.lang == "zh" and hit.snippet == "嫦娥«六号»"
    assert change6 not in iris(index.search("六四"))  # characters as a phrase, not in any order


def test_english_by_words_case_and_prefix(store: ox.Store, index: SearchIndex) -> None:
    smile = labelled(store, "SMILE", "en")
    for typed in ("SMILE", "smile", "smi", "ＳＭＩＬＥ"):
        assert iris(index.search(typed))[:1] == [smile], typed


def test_apostrophes_and_hyphens_are_one_spelling(store: ox.Store, index: SearchIndex) -> None:
    change6 = labelled(store, "嫦娥六号", "zh")
    spellings = ("Chang'e", "Chang’e", "change", "Chang-e", "CHANGʼE")
    answers = {typed: iris(index.search(typed + " 6")) for typed in spellings}
    assert all(a[:1] == [change6] for a in answers.values()), answers


def test_one_typo_in_a_long_word(store: ox.Store, index: SearchIndex) -> None:
    probe = labelled(store, "Einstein Probe", "en")
    for typo in ("Einstien", "Einstei", "Einsteinn", "Eimstein"):
        hits = index.search(typo)
        assert iris(hits)[:1] == [probe], typo
        assert "«Einstein»" in hits[0].snippet
    assert index.search("Einstien")[0].score < index.search("Einstein")[0].score
    assert probe in iris(index.search("Probe")) and index.search("Prbe") == []  # four letters: no typo forgiven


def test_exact_before_prefix(store: ox.Store, index: SearchIndex) -> None:
    smile = labelled(store, "SMILE", "en")
    hits = index.search("smile")
    assert len(hits) > 1 and hits[0].iri == smile  # "SMILE launch", "SMILE spacecraft"… come after
    assert all(h.score < hits[0].score for h in hits[1:])
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_type_filter(store: ox.Store, index: SearchIndex) -> None:
    rows = store.query(f"SELECT ?t WHERE {{ ?s {LABEL} \"SMILE\"@en ; a ?t }}", use_default_graph_as_union=True)
    mission_type = str(next(iter(rows))["t"].value)
    hits = index.search("smile", type_iri=mission_type)
    assert hits and all(mission_type in h.types for h in hits)
    assert len(hits) < len(index.search("smile"))
    assert index.search("smile", type_iri="https://example.org/NoSuchClass") == []


def test_language_filter(store: ox.Store, index: SearchIndex) -> None:
    change6 = labelled(store, "嫦娥六号", "zh")
    assert change6 in iris(index.search("Chang'e", lang="en"))
    assert change6 not in iris(index.search("Chang'e", lang="zh"))
    assert all(h.lang in ("zh", "") for h in index.search("嫦娥", lang="zh"))
    assert index.search("嫦娥", lang="en") == []


@pytest.mark.parametrize("hostile", ['"', "*", "NEAR(", "NEAR(a b)", "^", "x" * 10_000, "!!! ??? ...",
                                     "AND OR NOT", "smile OR", '"smile" *', "tokens:smile", "-smile", "{a b}: c",
                                     "a\x00b", "", "   ", "嫦" * 5000, " ".join(["smile"] * 50)])
def test_hostile_input_is_a_query(index: SearchIndex, hostile: str) -> None:
    hits = index.search(hostile)
    assert isinstance(hits, list) and len(hits) <= 10


def test_punctuation_only_finds_nothing(index: SearchIndex) -> None:
    assert index.search("!!! ??? ...") == [] and index.search("") == [] and index.search('"*^') == []


def test_same_quads_same_hits(quads: list[ox.Quad], index: SearchIndex, tmp_path: Path) -> None:
    again = tmp_path / "again.sqlite"
    build_index(reversed(quads), again)  # another order, the same graph
    with SearchIndex(again) as other:
        for typed in ("smile", "嫦娥", "Chang'e", "esa", "Einstien", "launch"):
            assert other.search(typed) == index.search(typed), typed


def test_interrupted_build_leaves_no_file(quads: list[ox.Quad], tmp_path: Path) -> None:
    def failing() -> Iterator[ox.Quad]:
        yield from quads[: len(quads) // 2]
        raise RuntimeError("disk gone")

    path = tmp_path / "labels.sqlite"
    with pytest.raises(RuntimeError):
        build_index(failing(), path)
    assert list(tmp_path.iterdir()) == []
    build_index(quads, path)  # a complete one is kept
    with pytest.raises(RuntimeError):
        build_index(failing(), path)
    assert [p.name for p in tmp_path.iterdir()] == ["labels.sqlite"]
    with SearchIndex(path) as ix:
        assert ix.search("smile")


def test_stats_and_refusals(quads: list[ox.Quad], tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    stats = build_index(quads, path)
    assert stats.bytes == path.stat().st_size
    assert 0 < stats.entities <= stats.entries
    with pytest.raises(FileNotFoundError):
        SearchIndex(tmp_path / "missing.sqlite")
    (tmp_path / "junk").write_bytes(b"not an index" * 100)
    with pytest.raises(ValueError):
        SearchIndex(tmp_path / "junk")


def test_concurrent_readers(index: SearchIndex) -> None:
    import concurrent.futures

    expected = index.search("launch")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: index.search("launch"), range(64)))
    assert all(a == expected for a in answers)


def test_index_of_what_an_engine_serves(engine: Engine, store: ox.Store, tmp_path: Path) -> None:
    assert engine.snapshot is not None
    build_for_snapshot(engine.snapshot, tmp_path / "served.sqlite")
    with SearchIndex(tmp_path / "served.sqlite") as ix:
        assert iris(ix.search("六号"))[:1] == [labelled(store, "嫦娥六号", "zh")]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZ09 _-'`.,:;!?()/\\\"\t")), max_size=40)
       | st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_the_ascii_road_tokenises_as_the_character_loop(text: str) -> None:
    assert scan(text) == scan_chars(text)


def test_a_type_filter_finds_the_instances_of_its_subclasses(store: ox.Store, index: SearchIndex) -> None:
    # Asked of the graph, not assumed: a class with a subclass whose instance has a label.
    rows = list(store.query(
        f"SELECT ?e ?super ?sub ?l WHERE {{ ?sub <{config.RDFS.subClassOf}> ?super . FILTER(?sub != ?super) "
        f"?e a ?sub ; {LABEL} ?l . FILTER NOT EXISTS {{ ?e a ?super }} FILTER(LANG(?l) = 'en') }} LIMIT 1",
        use_default_graph_as_union=True))
    assert rows, "the bundled graph has an instance typed only by a subclass"
    entity, sup, sub, label = (rows[0][v] for v in ("e", "super", "sub", "l"))
    assert entity.value in {h.iri for h in index.search(label.value, type_iri=sub.value, limit=100)}
    found = {h.iri: h for h in index.search(label.value, type_iri=sup.value, limit=100)}
    assert entity.value in found and sup.value not in found[entity.value].types  # its types shown as stated
