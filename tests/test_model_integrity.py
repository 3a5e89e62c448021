"""Integrity of the ontology and the data: what docs/model.md promises, checked on the files.

The files are parsed directly (rdflib and pyoxigraph), one graph per file, so a failure
names the file; one test also checks that the project loader yields the same graphs.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD

ROOT = Path(__file__).resolve().parent.parent
ONTOLOGY_FILE = ROOT / "ontology" / "spacecoop.ttl"
DATA_FILES = sorted((ROOT / "data").glob("*.ttl"))
ALL_FILES = [ONTOLOGY_FILE, *DATA_FILES]

SC = "https://spacecoop.example/ontology#"
SCR = "https://spacecoop.example/resource/"
ONTOLOGY_IRI = URIRef("https://spacecoop.example/ontology")
ARTICLE = URIRef(SCR + "article-esa-cnsa-2026")
QUOTE = URIRef(SC + "quote")
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DATE_TYPES = {XSD.date, XSD.gYearMonth, XSD.gYear}
DATE_PROPS = [URIRef(SC + p) for p in ("date", "earliestDate", "latestDate", "startDate")]

ALLOWED_NAMESPACES = (
    SC, SCR, str(RDF), str(RDFS), str(OWL), str(XSD), str(SKOS), str(DCTERMS), str(PROV),
    "https://schema.org/", "http://www.w3.org/ns/org#", "http://www.wikidata.org/prop/direct/",
)
# Project vocabulary (not article content): exempt from the quote/derivation rule.
VOCABULARY_SCHEMES = {URIRef(SCR + s) for s in (
    "mission-statuses", "sides", "contribution-kinds", "roles", "orbit-regimes")}
# Properties documented in docs/model.md as applicable to anything (no rdfs:domain).
ANY_DOMAIN = {URIRef(SC + p) for p in ("quote", "dateText", "durationYears")}

REQUIRED_TERMS = [
    "Mission", "Agency", "Instrument", "LaunchVehicle", "Spacecraft", "SpacecraftModule", "Country",
    "Person", "Event", "Meeting", "Launch", "Landing", "SampleDeparture", "Cancellation",
    "TrainingEvent", "GroundStation", "RelaySatellite", "SourceDocument", "Contribution",
    "MissionStatus", "Side", "providedBy", "launchedOn", "carriedOn", "status", "side", "mission",
    "participant", "date", "earliestDate", "latestDate", "dateText", "quote", "contributionTo",
    "contributionKind", "providedItem",
]


# --- loading ------------------------------------------------------------------------
def _parse(path: Path) -> Graph:
    return Graph().parse(path, format="turtle")


@pytest.fixture(scope="module")
def graphs() -> dict[Path, Graph]:
    return {p: _parse(p) for p in ALL_FILES}


@pytest.fixture(scope="module")
def ontology(graphs: dict[Path, Graph]) -> Graph:
    return graphs[ONTOLOGY_FILE]


@pytest.fixture(scope="module")
def data(graphs: dict[Path, Graph]) -> Graph:
    union = Graph()
    for p in DATA_FILES:
        for t in graphs[p]:
            union.add(t)
    return union


@pytest.fixture(scope="module")
def everything(ontology: Graph, data: Graph) -> Graph:
    g = Graph()
    for t in ontology:
        g.add(t)
    for t in data:
        g.add(t)
    return g


def _article_text() -> str | None:
    for candidate in (ROOT.parent / "shared" / "sources" / "esa-cnsa-heads-meet-2026.txt",
                      Path("/work/shared/sources/esa-cnsa-heads-meet-2026.txt")):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return None


def _sc_terms(g: Graph) -> set[URIRef]:
    out = set()
    for t in g:
        for node in t:
            if isinstance(node, URIRef) and str(node).startswith(SC):
                out.add(node)
            if isinstance(node, Literal) and node.datatype and str(node.datatype).startswith(SC):
                out.add(node.datatype)
    return out


def _union_members(g: Graph, node) -> set:  # type: ignore[no-untyped-def]
    """The classes a domain/range node stands for (a class, or an owl:unionOf list)."""
    if isinstance(node, BNode):
        lst = g.value(node, OWL.unionOf)
        if lst is not None:
            return set(Collection(g, lst))
    return {node}


def _entities(data: Graph) -> set[URIRef]:
    return {s for s in data.subjects(RDF.type, None) if isinstance(s, URIRef)}


def _is_vocabulary(data: Graph, s: URIRef) -> bool:
    if s == ARTICLE or s in VOCABULARY_SCHEMES:
        return True
    return any(scheme in VOCABULARY_SCHEMES for scheme in data.objects(s, SKOS.inScheme))


# --- syntax -------------------------------------------------------------------------
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_each_turtle_file_parses_on_its_own_with_rdflib_and_oxigraph(path: Path) -> None:
    g = _parse(path)
    quads = list(ox.parse(path=str(path), format=ox.RdfFormat.TURTLE))
    assert len(g) > 0
    assert len(quads) == len(g), f"{path.name}: rdflib and oxigraph disagree on the triple count"


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.name)
def test_data_files_use_no_blank_nodes(path: Path, graphs: dict[Path, Graph]) -> None:
    bnodes = {n for t in graphs[path] for n in t if isinstance(n, BNode)}
    assert not bnodes, f"{path.name} has blank nodes"


def test_the_project_loader_yields_one_named_graph_per_file_with_the_same_triples(
        graphs: dict[Path, Graph]) -> None:
    loader = pytest.importorskip("spacecoop.rdf.loader")
    from spacecoop import config

    sources = loader.bundled_sources(include_catalogue=False)
    ds = loader.load_dataset(sources=sources, base=config.CANONICAL_BASE)
    for path in ALL_FILES:
        name = "ontology" if path == ONTOLOGY_FILE else path.stem
        assert len(ds.graph(URIRef(config.graph_iri(name)))) == len(graphs[path]), path.name


# --- ontology -----------------------------------------------------------------------
def test_the_ontology_carries_its_metadata(ontology: Graph) -> None:
    assert (ONTOLOGY_IRI, RDF.type, OWL.Ontology) in ontology
    assert ontology.value(ONTOLOGY_IRI, OWL.versionInfo) == Literal("0.1.0")
    assert (ONTOLOGY_IRI, DCTERMS.license, URIRef("https://creativecommons.org/licenses/by/4.0/")) in ontology
    assert ontology.value(ONTOLOGY_IRI, DCTERMS.creator) == Literal("SpaceCoop KG project")
    assert ontology.value(ONTOLOGY_IRI, DCTERMS.title) is not None
    assert ontology.value(ONTOLOGY_IRI, DCTERMS.description) is not None


@pytest.mark.parametrize("name", REQUIRED_TERMS)
def test_the_terms_other_components_rely_on_are_defined(name: str, ontology: Graph) -> None:
    assert (URIRef(SC + name), RDF.type, None) in ontology


def test_every_ontology_term_has_english_and_chinese_labels_and_a_definition(ontology: Graph) -> None:
    for term in _sc_terms(ontology):
        langs = Counter(label.language for label in ontology.objects(term, RDFS.label))
        assert langs["en"] == 1 and langs["zh"] == 1, f"{term}: labels {dict(langs)}"
        definitions = [d for d in ontology.objects(term, SKOS.definition) if d.language == "en"]
        assert definitions, f"{term} has no English definition"
        assert (term, RDFS.isDefinedBy, ONTOLOGY_IRI) in ontology


def test_every_property_declares_its_range_and_its_domain_unless_documented_as_any(ontology: Graph) -> None:
    props = set(ontology.subjects(RDF.type, OWL.ObjectProperty)) | set(
        ontology.subjects(RDF.type, OWL.DatatypeProperty))
    assert props
    for p in props:
        assert ontology.value(p, RDFS.range) is not None, f"{p} has no range"
        if p not in ANY_DOMAIN:
            assert ontology.value(p, RDFS.domain) is not None, f"{p} has no domain"


def test_the_ontology_asserts_no_equivalent_class_to_outside_vocabularies(ontology: Graph) -> None:
    for s, o in ontology.subject_objects(OWL.equivalentClass):
        assert not (isinstance(o, URIRef) and not str(o).startswith(SC)), f"{s} ≡ {o}"


# --- terms, IRIs, namespaces ----------------------------------------------------------
def test_every_term_used_in_data_is_defined_in_the_ontology(ontology: Graph, data: Graph) -> None:
    defined = {s for s in ontology.subjects(RDF.type, None) if str(s).startswith(SC)}
    undefined = _sc_terms(data) - defined
    assert not undefined, sorted(undefined)


def test_every_resource_iri_follows_the_slug_scheme(everything: Graph) -> None:
    for t in everything:
        for node in t:
            if isinstance(node, URIRef) and str(node).startswith(SCR):
                assert SLUG.match(str(node)[len(SCR):]), node


def test_only_project_and_standard_namespaces_are_used(data: Graph) -> None:
    # Beyond them: the pages a citation was read on, and the Wikidata items cited links name.
    cited_pages = set(data.objects(None, URIRef(SC + "citedSource")))
    for t in data:
        for node in (t[1], t[2]) if isinstance(t[2], URIRef) else (t[1],):
            if node in cited_pages or str(node).startswith("http://www.wikidata.org/entity/"):
                continue
            if str(node).startswith("http") and not str(node).startswith("https://creativecommons.org/"):
                assert str(node).startswith(ALLOWED_NAMESPACES), node


def test_every_resource_used_as_an_object_is_described(everything: Graph) -> None:
    described = set(everything.subjects())
    for o in everything.objects():
        if isinstance(o, URIRef) and str(o).startswith(SCR):
            assert o in described, f"{o} is used but never described"


def test_every_data_file_describes_disjoint_entities(graphs: dict[Path, Graph]) -> None:
    owner: dict[URIRef, str] = {}
    for path in DATA_FILES:
        for s in set(graphs[path].subjects(RDF.type, None)):
            assert s not in owner, f"{s} typed in both {owner.get(s)} and {path.name}"
            owner[s] = path.name


# --- labels and typing ---------------------------------------------------------------
def test_every_entity_has_exactly_one_english_label(data: Graph) -> None:
    for s in _entities(data):
        en = [label for label in data.objects(s, RDFS.label) if label.language == "en"]
        assert len(en) == 1, f"{s}: {en}"
        assert all(label.language in ("en", "zh") for label in data.objects(s, RDFS.label)), s


def test_english_labels_are_unique_within_each_class(data: Graph) -> None:
    by_class: dict[tuple, list] = defaultdict(list)
    for s in _entities(data):
        label = next(lbl for lbl in data.objects(s, RDFS.label) if lbl.language == "en")
        for cls in data.objects(s, RDF.type):
            by_class[(cls, str(label))].append(s)
    dupes = {k: v for k, v in by_class.items() if len(v) > 1}
    assert not dupes, dupes


def test_concepts_have_pref_labels_matching_their_labels_and_sit_in_a_scheme(data: Graph) -> None:
    for c in data.subjects(RDF.type, SKOS.Concept):
        assert set(data.objects(c, SKOS.prefLabel)) == set(data.objects(c, RDFS.label)), c
        scheme = data.value(c, SKOS.inScheme)
        assert scheme is not None and (scheme, RDF.type, SKOS.ConceptScheme) in data, c


def test_every_instance_is_typed_with_all_its_sc_superclasses(ontology: Graph, data: Graph) -> None:
    for s, cls in data.subject_objects(RDF.type):
        for sup in ontology.transitive_objects(cls, RDFS.subClassOf):
            if isinstance(sup, URIRef) and str(sup).startswith(SC):
                assert (s, RDF.type, sup) in data, f"{s} a {cls} but not a {sup}"


def test_property_values_respect_declared_domains_and_ranges(ontology: Graph, data: Graph) -> None:
    for p in set(data.predicates()):
        if not str(p).startswith(SC):
            continue
        domain = ontology.value(p, RDFS.domain)
        rng = ontology.value(p, RDFS.range)
        is_object = (p, RDF.type, OWL.ObjectProperty) in ontology
        for s, o in data.subject_objects(p):
            if domain is not None:
                allowed = _union_members(ontology, domain)
                assert set(data.objects(s, RDF.type)) & allowed, f"{s} {p}: not in domain"
            if is_object and rng is not None and rng != RDFS.Resource:  # any IRI (a cited web page)
                allowed = _union_members(ontology, rng)
                assert set(data.objects(o, RDF.type)) & allowed, f"{s} {p} {o}: not in range"
            if rng == RDF.langString:
                assert isinstance(o, Literal) and o.language, f"{s} {p}: needs a language tag"
            if rng in (XSD.integer, XSD.boolean):
                assert isinstance(o, Literal) and o.datatype == rng, f"{s} {p} {o!r}"


def test_every_agency_organization_and_country_states_its_side(data: Graph) -> None:
    for cls in ("Agency", "Organization", "Country"):
        for s in data.subjects(RDF.type, URIRef(SC + cls)):
            side = data.value(s, URIRef(SC + "side"))
            assert side is not None and (side, RDF.type, URIRef(SC + "Side")) in data, s


def test_statuses_form_a_labelled_scheme_in_english_and_chinese(data: Graph) -> None:
    statuses = set(data.subjects(RDF.type, URIRef(SC + "MissionStatus")))
    expected = {URIRef(SCR + "status-" + s) for s in (
        "proposed", "planned", "in-development", "operational", "completed", "cancelled")}
    assert expected <= statuses
    scheme = URIRef(SCR + "mission-statuses")
    for s in statuses:
        assert {lbl.language for lbl in data.objects(s, SKOS.prefLabel)} == {"en", "zh"}, s
        assert (s, SKOS.topConceptOf, scheme) in data and (s, SKOS.inScheme, scheme) in data
        assert data.value(s, SKOS.definition) is not None


# --- provenance ----------------------------------------------------------------------
def test_article_content_links_to_the_article_and_carries_a_quote(data: Graph) -> None:
    for s in _entities(data):
        # A citation's source is the page it was read on, not the article.
        if _is_vocabulary(data, s) or (s, RDF.type, URIRef(SC + "Citation")) in data:
            continue
        assert (s, PROV.wasDerivedFrom, ARTICLE) in data, f"{s}: no prov:wasDerivedFrom"
        assert (s, DCTERMS.source, ARTICLE) in data, f"{s}: no dcterms:source"
        quotes = [q for q in data.objects(s, QUOTE) if q.language == "en"]
        assert quotes, f"{s}: no sc:quote"


def test_every_quote_is_verbatim_from_the_article(data: Graph) -> None:
    text = _article_text()
    if text is None:
        pytest.skip("the source article is not beside the repository (shared/sources)")
    flat = " ".join(text.split())
    for s, q in data.subject_objects(QUOTE):
        assert " ".join(str(q).split()) in flat, f"{s}: quote not in the article: {q}"


def test_the_article_states_no_invented_publication_date_or_publisher(data: Graph) -> None:
    assert (ARTICLE, RDF.type, URIRef(SC + "SourceDocument")) in data
    assert data.value(ARTICLE, DCTERMS.title) == Literal(
        "European, Chinese Space Agency Heads Meet for First Time Since 2017", lang="en")
    for p in (DCTERMS.date, DCTERMS.issued, DCTERMS.created, DCTERMS.publisher, DCTERMS.creator):
        assert data.value(ARTICLE, p) is None, p


def test_no_wikidata_entity_identifiers_are_guessed(everything: Graph) -> None:
    # A Wikidata item appears only in a link that cites the page stating its Q-id, or in that
    # citation itself (tests/test_links.py checks the citations).
    cited = {(everything.value(c, RDF.subject), everything.value(c, RDF.predicate), everything.value(c, RDF.object))
             for c in everything.subjects(RDF.type, URIRef(SC + "Citation"))}
    for t in everything:
        if any(str(node).startswith("http://www.wikidata.org/entity/") for node in t):
            assert t in cited or (t[0], RDF.type, URIRef(SC + "Citation")) in everything, t


# --- dates and figures ---------------------------------------------------------------
def _bounds(lit: Literal) -> tuple[str, str]:
    """Earliest and latest day a date value can stand for, as ISO strings."""
    v = str(lit)
    if lit.datatype == XSD.gYear:
        return f"{v}-01-01", f"{v}-12-31"
    if lit.datatype == XSD.gYearMonth:
        return f"{v}-01", f"{v}-31"
    return v, v


def test_date_values_use_day_month_or_year_datatypes_only(data: Graph) -> None:
    patterns = {XSD.date: r"\d{4}-\d{2}-\d{2}", XSD.gYearMonth: r"\d{4}-\d{2}", XSD.gYear: r"\d{4}"}
    for p in DATE_PROPS:
        for s, o in data.subject_objects(p):
            assert isinstance(o, Literal) and o.datatype in DATE_TYPES, f"{s} {p} {o!r}"
            assert re.fullmatch(patterns[o.datatype], str(o)), f"{s} {p} {o!r}"


def test_earliest_dates_are_not_after_latest_dates(data: Graph) -> None:
    for s, early in data.subject_objects(URIRef(SC + "earliestDate")):
        late = data.value(s, URIRef(SC + "latestDate"))
        if late is not None:
            assert _bounds(early)[0] <= _bounds(late)[1], s


def test_the_meeting_is_dated_placed_and_attended_as_the_article_says(data: Graph) -> None:
    m = URIRef(SCR + "meeting-2026-01-13")
    assert data.value(m, URIRef(SC + "date")) == Literal("2026-01-13", datatype=XSD.date)
    assert data.value(m, URIRef(SC + "location")) == URIRef(SCR + "esa-headquarters")
    people = set(data.objects(m, URIRef(SC + "participant")))
    assert {URIRef(SCR + "josef-aschbacher"), URIRef(SCR + "shan-zhongde")} <= people
    assert data.value(m, URIRef(SC + "previousMeeting")) == URIRef(SCR + "meeting-2017")
    previous = URIRef(SCR + "meeting-2017")
    assert data.value(previous, URIRef(SC + "date")) == Literal("2017", datatype=XSD.gYear)


def test_vague_dates_keep_the_article_words_and_a_window(data: Graph) -> None:
    launch = URIRef(SCR + "smile-launch")
    assert data.value(launch, URIRef(SC + "earliestDate")) == Literal("2026-04", datatype=XSD.gYearMonth)
    assert data.value(launch, URIRef(SC + "latestDate")) == Literal("2026", datatype=XSD.gYear)
    assert data.value(launch, URIRef(SC + "dateText")) is not None
    ds = URIRef(SCR + "double-star")
    assert data.value(ds, URIRef(SC + "dateText")) == Literal("early and mid-2000s", lang="en")
    assert data.value(ds, URIRef(SC + "date")) is None


def test_figures_are_typed_numbers(data: Graph) -> None:
    def value(slug: str, prop: str) -> object:
        lit = data.value(URIRef(SCR + slug), URIRef(SC + prop))
        assert isinstance(lit, Literal) and lit.datatype == XSD.integer, (slug, prop, lit)
        return lit.toPython()

    assert value("smile", "distanceFromEarthKm") == 121000
    assert value("einstein-probe", "minimumDurationYears") == 3
    assert value("einstein-probe", "elapsedYears") == 2
    assert value("topic-achievements", "durationYears") == 9
    assert value("tianwen-3", "spacecraftCount") == 2


def test_every_contribution_names_mission_provider_and_kind(data: Graph) -> None:
    contributions = set(data.subjects(RDF.type, URIRef(SC + "Contribution")))
    assert contributions
    for c in contributions:
        for p in ("contributionTo", "providedBy", "contributionKind", "side"):
            assert data.value(c, URIRef(SC + p)) is not None, (c, p)


def test_every_instrument_is_carried_on_a_mission(data: Graph) -> None:
    for i in data.subjects(RDF.type, URIRef(SC + "Instrument")):
        carriers = set(data.objects(i, URIRef(SC + "carriedOn")))
        assert any((c, RDF.type, URIRef(SC + "Mission")) in data for c in carriers), i
