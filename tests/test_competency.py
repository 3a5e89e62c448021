"""Competency questions: SPARQL over the loaded graph, answers written by hand from the article.

Each question runs twice, on the rdflib ``Dataset`` from the one loader and on the query
engine (Oxigraph), and both must give the article's answer. The expected values below
were read off /work/shared/sources/esa-cnsa-heads-meet-2026.txt, not off the data;
the sentence each comes from is quoted next to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import pytest

from spacecoop.engine.store import Engine, Job, parse_json_rows

Rows = list[dict[str, str]]
Ask = Callable[[str], Rows]

PREFIXES = """
PREFIX sc:   <https://spacecoop.example/ontology#>
PREFIX scr:  <https://spacecoop.example/resource/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX org:  <http://www.w3.org/ns/org#>
"""
SCR = "https://spacecoop.example/resource/"
XSD = "http://www.w3.org/2001/XMLSchema#"


def slug(iri: str | None) -> str | None:
    return iri[len(SCR):] if iri and iri.startswith(SCR) else iri


@pytest.fixture(params=["rdflib", "engine"])
def ask(request: pytest.FixtureRequest) -> Ask:
    """Run a SELECT on one backend; rows of plain strings (IRIs of scr: as slugs)."""
    if request.param == "rdflib":
        dataset = request.getfixturevalue("dataset")

        def on_rdflib(query: str) -> Rows:
            result = dataset.query(PREFIXES + query)
            return [{str(k): slug(str(v)) for k, v in row.asdict().items()} for row in result]  # type: ignore[union-attr,misc]
        return on_rdflib
    engine: Engine = request.getfixturevalue("engine")

    def on_engine(query: str) -> Rows:
        rows = parse_json_rows(engine.run_sync(Job(PREFIXES + query)).body)
        return [{k: slug(v[1]) for k, v in row.items()} for row in rows]  # type: ignore[misc]
    return on_engine


# --- 1. All missions, with status and dates ---------------------------------------------
MISSIONS = """
SELECT ?mission ?status ?earliest ?earliestType ?latest ?latestType WHERE {
  ?mission a sc:Mission .
  OPTIONAL { ?mission sc:status ?status }
  OPTIONAL { ?mission sc:earliestDate ?earliest BIND(DATATYPE(?earliest) AS ?earliestType) }
  OPTIONAL { ?mission sc:latestDate ?latest BIND(DATATYPE(?latest) AS ?latestType) }
}"""

# Every mission the article names (sc:Mission may also hold a segment or an option).
ARTICLE_MISSIONS = {"einstein-probe", "change-6", "smile", "double-star", "svom", "change-4",
                    "seismo-electromagnetic-satellites", "cfosat", "mars-sample-return", "tianwen-3"}
EXPECTED_STATUS = {
    "einstein-probe": "status-operational",    # "the two agencies are currently operating … the Einstein Probe"
    "smile": "status-planned",                 # "Later this year … a European Vega-C rocket will carry … SMILE"
    "double-star": "status-completed",         # "Double Star, was conducted over four years"
    "mars-sample-return": "status-cancelled",  # "a now-canceled sample collection mission"
    "tianwen-3": "status-in-development",      # "China is building two spacecraft … for its Tianwen-3"
}
EXPECTED_START = {
    "einstein-probe": ("2024-01", "gYearMonth"),  # "launched in January 2024"
    "smile": ("2026-04", "gYearMonth"),           # "Later this year, no earlier than April"
    "tianwen-3": ("2028", "gYear"),               # "set to begin in 2028"
    "change-6": ("2024", "gYear"),                # "via the Chang'e 6 mission in 2024"
}


def test_every_mission_of_the_article_is_listed(ask: Ask) -> None:
    assert {r["mission"] for r in ask(MISSIONS)} >= ARTICLE_MISSIONS


def test_missions_have_the_status_the_article_gives(ask: Ask) -> None:
    status = {r["mission"]: r.get("status") for r in ask(MISSIONS)}
    assert {m: status.get(m) for m in EXPECTED_STATUS} == EXPECTED_STATUS
    # "Chang'e 4", "SVOM", "CFOSat": the article does not say, so neither does the graph.
    assert status["change-4"] is None and status["svom"] is None


def test_missions_have_dates_at_the_precision_the_article_gives(ask: Ask) -> None:
    start = {r["mission"]: (r.get("earliest"), (r.get("earliestType") or "").removeprefix(XSD))
             for r in ask(MISSIONS)}
    assert {m: start[m] for m in EXPECTED_START} == EXPECTED_START


def test_double_star_is_dated_to_the_2000s(ask: Ask) -> None:
    # "Back in the early and mid-2000s"
    [row] = [r for r in ask(MISSIONS) if r["mission"] == "double-star"]
    assert "2000" <= row["earliest"] <= row["latest"] <= "2009"


# --- 2. European instruments on Chinese missions, and who provided each --------------------
EUROPEAN_ON_CHINESE = """
SELECT DISTINCT ?instrument ?provider ?mission WHERE {
  ?contribution sc:providedItem ?instrument ; sc:providedBy ?provider ; sc:contributionTo ?mission .
  ?instrument a sc:Instrument ; sc:carriedOn ?mission .
  ?provider sc:side scr:europe .
  # A Chinese mission: led, operated or partnered on the Chinese side, or flying a
  # Chinese spacecraft; and not European as well (SMILE is joint).
  FILTER EXISTS { ?mission (sc:hasSpacecraft?)/(sc:side|((sc:ledBy|sc:operatedBy|sc:partner)/sc:side)) scr:china }
  FILTER NOT EXISTS { ?mission (sc:ledBy|sc:operatedBy|sc:partner)/sc:side scr:europe }
}"""
EXPECTED_EUROPEAN_ON_CHINESE = {
    ("nils", "esa", "change-6"),         # "the European Space Agency had an instrument, Negative Ions at the
                                         #  Lunar Surface, carried to the Moon via the Chang'e 6 mission"
    ("dorn", "france", "change-6"),      # "Chang'e 6 carried France's DORN instrument to the Moon."
    # "The Netherlands-China Low-Frequency Explorer onboard Chang'e 4."
    ("low-frequency-explorer", "netherlands", "change-4"),
    ("neutral-atom-detector", "sweden", "change-4"),            # "Sweden's Neutral Atom Detector on Chang'e 4."
    # "Germany's Lunar Lander Neutron Dosimetry onboard Chang'e 4."
    ("lunar-lander-neutron-dosimetry", "germany", "change-4"),
}


def test_european_instruments_on_chinese_missions_and_their_providers(ask: Ask) -> None:
    found = {(r["instrument"], r["provider"], r["mission"]) for r in ask(EUROPEAN_ON_CHINESE)}
    assert found == EXPECTED_EUROPEAN_ON_CHINESE


def test_european_instruments_on_the_change_missions_and_their_providers(ask: Ask) -> None:
    # The same question without deciding what makes a mission Chinese: who provided what.
    rows = ask("""SELECT ?instrument ?provider ?mission WHERE {
        VALUES ?mission { scr:change-4 scr:change-6 }
        ?c sc:providedItem ?instrument ; sc:providedBy ?provider ; sc:contributionTo ?mission .
        ?provider sc:side scr:europe . ?instrument sc:carriedOn ?mission }""")
    assert {(r["instrument"], r["provider"], r["mission"]) for r in rows} == EXPECTED_EUROPEAN_ON_CHINESE


def test_nils_rode_on_the_change_6_descent_module(ask: Ask) -> None:
    # "That instrument resided on the spacecraft's descent module"
    rows = ask("""SELECT ?module ?spacecraft WHERE {
        scr:nils sc:carriedOn ?module . ?module a sc:DescentModule .
        ?spacecraft sc:hasModule ?module . scr:change-6 sc:hasSpacecraft ?spacecraft }""")
    assert [(r["module"], r["spacecraft"]) for r in rows] == [("change-6-descent-module", "change-6-spacecraft")]


def test_nils_data_came_back_via_chinese_relays_to_chinese_and_european_stations(ask: Ask) -> None:
    # "had data returned to Earth via China's lunar relay satellites, collected by ground
    #  stations in China and Europe"
    rows = ask("""SELECT ?relaySide ?station WHERE {
        scr:nils sc:dataRelayedVia/sc:side ?relaySide ; sc:dataReceivedBy ?station }""")
    assert {r["relaySide"] for r in rows} == {"china"}
    assert {r["station"] for r in rows} == {"ground-stations-china", "ground-stations-europe"}


# --- 3. Launch vehicle of each mission, and who provides it -----------------------------------
LAUNCHES = """
SELECT ?mission ?vehicle ?vehicleSide ?provider ?count WHERE {
  { ?mission sc:launchedOn ?vehicle . OPTIONAL { ?vehicle sc:side ?vehicleSide } }
  UNION { ?c sc:contributionTo ?mission ; sc:contributionKind scr:contribution-kind-launch }
  OPTIONAL { ?c sc:contributionTo ?mission ; sc:contributionKind scr:contribution-kind-launch ;
             sc:providedBy ?provider . OPTIONAL { ?c sc:itemCount ?count } }
}"""


def test_launch_vehicle_of_each_mission_and_its_provider(ask: Ask) -> None:
    vehicles = {(r["mission"], r.get("vehicle")) for r in ask(LAUNCHES) if r.get("vehicle")}
    assert vehicles == {("einstein-probe", "long-march-2c"),  # "China contributed … a Long March 2C launch"
                        ("smile", "vega-c")}                  # "a European Vega-C rocket will carry the SMILE mission"
    providers = {(r["mission"], r.get("provider"), r.get("count")) for r in ask(LAUNCHES) if r.get("provider")}
    assert ("einstein-probe", "cnsa", None) in providers      # China (CNSA) provided Einstein Probe's launch
    assert ("double-star", "cnsa", "2") in providers          # "China provided two launch solutions"
    smile = {r.get("vehicleSide") for r in ask(LAUNCHES) if r["mission"] == "smile"}
    assert smile == {"europe"}                                # "a European Vega-C rocket"


# --- 4. Every contribution to SMILE, Einstein Probe and Double Star ----------------------------
CONTRIBUTIONS = """
SELECT ?mission ?provider ?kind ?item ?count WHERE {
  VALUES ?mission { scr:smile scr:einstein-probe scr:double-star }
  ?c a sc:Contribution ; sc:contributionTo ?mission ; sc:providedBy ?provider ; sc:contributionKind ?kind .
  OPTIONAL { ?c sc:providedItem ?item } OPTIONAL { ?c sc:itemCount ?count }
}"""
K = "contribution-kind-"
EXPECTED_CONTRIBUTIONS = {
    "einstein-probe": {
        # "Europe provided calibration and testing expertise for various instruments and
        #  support systems that remain on Earth."
        ("esa", K + "calibration-and-testing"), ("esa", K + "expertise"), ("esa", K + "ground-support"),
        # "China contributed the spacecraft systems, instrument design and manufacturing,
        #  and a Long March 2C launch."
        ("cnsa", K + "spacecraft"), ("cnsa", K + "instrument"), ("cnsa", K + "launch"),
    },
    "smile": {
        # "Europe made the payload module, while China has developed the service module."
        ("esa", K + "module"), ("cnsa", K + "module"),
        # "both sides have worked on the Soft X-ray Imager, UV Imager, Light Ion Analyser, and Magnetometer"
        ("esa", K + "instrument"), ("cnsa", K + "instrument"),
    },
    "double-star": {
        # "China provided two launch solutions, two spacecraft, and several instruments,
        #  while Europe supplied the remainder of the instruments and its expertise."
        ("cnsa", K + "launch"), ("cnsa", K + "spacecraft"), ("cnsa", K + "instrument"),
        ("esa", K + "instrument"), ("esa", K + "expertise"),
    },
}


def test_every_contribution_to_smile_einstein_probe_and_double_star(ask: Ask) -> None:
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for r in ask(CONTRIBUTIONS):
        found[r["mission"]].add((r["provider"], r["kind"]))
    assert dict(found) == EXPECTED_CONTRIBUTIONS


def test_smile_modules_and_instruments_come_from_the_right_side(ask: Ask) -> None:
    items = {(r["provider"], r.get("item")) for r in ask(CONTRIBUTIONS) if r["mission"] == "smile"}
    assert {("esa", "smile-payload-module"), ("cnsa", "smile-service-module")} <= items
    instruments = {"smile-soft-x-ray-imager", "smile-uv-imager", "smile-light-ion-analyser", "smile-magnetometer"}
    for side in ("esa", "cnsa"):  # "both sides have worked on" all four
        assert instruments <= {item for provider, item in items if provider == side}


def test_double_star_counts_are_the_articles(ask: Ask) -> None:
    counts = {r["kind"]: r.get("count") for r in ask(CONTRIBUTIONS)
              if r["mission"] == "double-star" and r["provider"] == "cnsa"}
    # "two launch solutions, two spacecraft, and several instruments" (no number for "several")
    assert counts == {K + "launch": "2", K + "spacecraft": "2", K + "instrument": None}


# --- 5. The dated timeline of events ------------------------------------------------------------
TIMELINE = """
SELECT ?event ?date ?earliest ?latest WHERE {
  ?event a sc:Event .
  OPTIONAL { ?event sc:date ?date } OPTIONAL { ?event sc:earliestDate ?earliest }
  OPTIONAL { ?event sc:latestDate ?latest }
  FILTER(BOUND(?date) || BOUND(?earliest) || BOUND(?latest))
}
ORDER BY COALESCE(STR(?date), STR(?earliest), STR(?latest)) ?event"""
EXPECTED_DATES = {
    "astronaut-joint-training-2016": "2016",      # "In 2016 and 2017, the two sides' spacefarers trained together"
    "astronaut-joint-training-2017": "2017",
    "meeting-2017": "2017",                       # "the first meeting … since 2017"
    "tiangong-astronaut-visits-cancellation": "2023",  # "before being canceled in 2023"
    "einstein-probe-launch": "2024-01",           # "launched in January 2024"
    "change-6-landing": "2024-05-08",             # "touching down on May 8th" (2024)
    "change-6-sample-departure": "2024-06-04",    # "departing with samples on June 4th"
    "meeting-2026-01-13": "2026-01-13",           # "On January 13th 2026"
    "earth-return-orbiter-proposed-launch": "2027",  # "proposed to fly a year earlier" than 2028
    "tianwen-3-start": "2028",                    # "set to begin in 2028"
}


def test_timeline_has_the_articles_dates(ask: Ask) -> None:
    dates = {r["event"]: r.get("date") for r in ask(TIMELINE)}
    assert {e: dates.get(e) for e in EXPECTED_DATES} == EXPECTED_DATES


def test_timeline_is_in_date_order(ask: Ask) -> None:
    order = [r["event"] for r in ask(TIMELINE)]
    dated = [e for e in order if e in EXPECTED_DATES]
    assert dated == sorted(EXPECTED_DATES, key=lambda e: (EXPECTED_DATES[e], e))
    # "Later this year, no earlier than April": after the January meeting, before 2027.
    assert order.index("meeting-2026-01-13") < order.index("smile-launch") < order.index(
        "earth-return-orbiter-proposed-launch")


def test_smile_launch_window_opens_in_april_2026(ask: Ask) -> None:
    [row] = [r for r in ask(TIMELINE) if r["event"] == "smile-launch"]
    assert row["earliest"] == "2026-04" and row.get("date") is None


# --- 6. Agencies ranked by number of missions ---------------------------------------------------
RANKING = """
SELECT ?agency (COUNT(DISTINCT ?mission) AS ?missions) WHERE {
  ?agency a sc:Agency .
  ?mission a sc:Mission ; (sc:ledBy|sc:operatedBy|sc:partner|^sc:contributionTo/sc:providedBy) ?agency .
}
GROUP BY ?agency ORDER BY DESC(?missions) ?agency"""


def test_agencies_ranked_by_number_of_missions(ask: Ask) -> None:
    # ESA: Einstein Probe, Chang'e 6 (NILS), SMILE, Double Star, Mars Sample Return (the
    # Earth Return Orbiter) and the ERO-as-relay option it is "looking toward".
    # CNSA: Einstein Probe, SMILE, Double Star (Tianwen-3 is "China's", not CNSA's, in the text).
    ranking = [(r["agency"], r["missions"]) for r in ask(RANKING)]
    assert ranking == [("esa", "6"), ("cnsa", "3")]


# --- 7. Who met whom, where and when -----------------------------------------------------------
MEETINGS = """
SELECT ?meeting ?date ?a ?b ?place ?city ?country WHERE {
  ?meeting a sc:Meeting ; sc:date ?date ; sc:participant ?a, ?b .
  FILTER(STR(?a) < STR(?b))
  OPTIONAL { ?meeting sc:location ?place .
             OPTIONAL { ?place sc:locatedIn ?city } OPTIONAL { ?place sc:country ?country } }
}"""


def test_who_met_whom_where_and_when(ask: Ask) -> None:
    # "On January 13th 2026, at the European Space Agency's headquarters in Paris, France,
    #  Director General Josef Aschbacher met with Shan Zhongde"
    rows = [r for r in ask(MEETINGS) if r["meeting"] == "meeting-2026-01-13"]
    people = {(r["a"], r["b"]) for r in rows}
    assert ("josef-aschbacher", "shan-zhongde") in people
    assert {(r["date"], r.get("place"), r.get("city"), r.get("country")) for r in rows} == {
        ("2026-01-13", "esa-headquarters", "paris", "france")}


def test_the_two_heads_and_their_posts(ask: Ask) -> None:
    # "Director General Josef Aschbacher", "Shan Zhongde (单忠德), Administrator of China
    #  National Space Administration … after entering the job in January 2025"
    rows = ask("""SELECT ?person ?org ?role ?start WHERE {
        ?m a org:Membership ; org:member ?person ; org:organization ?org ; org:role ?role .
        OPTIONAL { ?m sc:startDate ?start } }""")
    assert {(r["person"], r["org"], r["role"], r.get("start")) for r in rows} == {
        ("josef-aschbacher", "esa", "role-director-general", None),
        ("shan-zhongde", "cnsa", "role-administrator", "2025-01"),
    }


def test_the_previous_heads_meeting_was_in_2017_between_the_same_agencies(ask: Ask) -> None:
    # "for the first meeting between the two space agency heads since 2017"
    rows = ask("""SELECT ?previous ?date ?a ?b WHERE {
        scr:meeting-2026-01-13 sc:previousMeeting ?previous . ?previous sc:date ?date ;
        sc:participant ?a, ?b . ?a a sc:Agency . ?b a sc:Agency . FILTER(STR(?a) < STR(?b)) }""")
    assert [(r["previous"], r["date"], r["a"], r["b"]) for r in rows] == [("meeting-2017", "2017", "cnsa", "esa")]
