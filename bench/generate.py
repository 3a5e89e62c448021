"""Synthetic graphs shaped like SpaceCoop KG, for the benchmark.

Same classes and properties as the real data (missions launched on vehicles, instruments
carried on missions and provided by agencies, qualified contributions, dated events,
labels in English and Chinese), scaled to a target triple count. Deterministic: the same
size always gives the same file.

    python bench/generate.py 100000 -o bench/work/synthetic-100k.nt
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from pathlib import Path

SC = "https://spacecoop.example/ontology#"
SCR = "https://spacecoop.example/resource/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
XSD = "http://www.w3.org/2001/XMLSchema#"
PROV = "http://www.w3.org/ns/prov#wasDerivedFrom"
STATUSES = ["proposed", "planned", "in-development", "operational", "completed", "cancelled"]
WORDS = ["solar", "lunar", "magnetic", "deep", "orbital", "polar", "x-ray", "ion", "plasma", "radio",
         "gamma", "neutron", "dust", "wind", "storm", "ring", "comet", "aurora", "tidal", "crater"]

TRIPLES_PER_MISSION = 68  # measured on the output: a mission with its instruments, contributions, events


def _t(s: str, p: str, o: str) -> str:
    return f"<{s}> <{p}> {o} .\n"


def _iri(x: str) -> str:
    return f"<{x}>"


def _lit(value: str, lang: str | None = None, datatype: str | None = None) -> str:
    esc = value.replace("\\", "\\\\").replace('"', '\\"')
    if lang:
        return f'"{esc}"@{lang}'
    return f'"{esc}"^^<{datatype}>' if datatype else f'"{esc}"'


def triples(size: int, seed: int = 7) -> Iterator[str]:
    """N-Triples lines for a graph of about ``size`` triples."""
    rng = random.Random(seed)
    missions = max(4, size // TRIPLES_PER_MISSION)
    agencies = max(4, missions // 50)
    vehicles = max(2, missions // 40)
    source = SCR + "article-synthetic"
    yield _t(source, RDF_TYPE, _iri(SC + "SourceDocument"))
    for status in STATUSES:
        yield _t(SCR + f"status-{status}", RDF_TYPE, _iri(SC + "MissionStatus"))
        yield _t(SCR + f"status-{status}", LABEL, _lit(status, "en"))
    for a in range(agencies):
        iri = SCR + f"agency-{a}"
        yield _t(iri, RDF_TYPE, _iri(SC + "Agency"))
        yield _t(iri, LABEL, _lit(f"Agency {a}", "en"))
        yield _t(iri, LABEL, _lit(f"航天局{a}", "zh"))
        yield _t(iri, SC + "side", _iri(SCR + ("europe" if a % 2 else "china")))
    for v in range(vehicles):
        iri = SCR + f"vehicle-{v}"
        yield _t(iri, RDF_TYPE, _iri(SC + "LaunchVehicle"))
        yield _t(iri, LABEL, _lit(f"Rocket {v}", "en"))
        yield _t(iri, SC + "providedBy", _iri(SCR + f"agency-{rng.randrange(agencies)}"))
    for m in range(missions):
        iri = SCR + f"mission-{m}"
        name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {m}"
        year = rng.randrange(1990, 2035)
        yield _t(iri, RDF_TYPE, _iri(SC + "Mission"))
        yield _t(iri, LABEL, _lit(name, "en"))
        yield _t(iri, LABEL, _lit(f"任务{m}", "zh"))
        yield _t(iri, SC + "status", _iri(SCR + f"status-{rng.choice(STATUSES)}"))
        yield _t(iri, SC + "launchedOn", _iri(SCR + f"vehicle-{rng.randrange(vehicles)}"))
        yield _t(iri, SC + "earliestDate", _lit(str(year), datatype=XSD + "gYear"))
        yield _t(iri, PROV, _iri(source))
        yield _t(iri, SC + "quote", _lit(f"{name} was described in the source.", "en"))
        for i in range(4):
            inst = f"{iri}-instrument-{i}"
            provider = SCR + f"agency-{rng.randrange(agencies)}"
            yield _t(inst, RDF_TYPE, _iri(SC + "Instrument"))
            yield _t(inst, LABEL, _lit(f"{rng.choice(WORDS).title()} Imager {m}.{i}", "en"))
            yield _t(inst, SC + "carriedOn", _iri(iri))
            yield _t(inst, SC + "providedBy", _iri(provider))
            yield _t(inst, PROV, _iri(source))
            yield _t(inst, SC + "quote", _lit("An instrument of the mission.", "en"))
            contrib = f"{iri}-contribution-{i}"
            yield _t(contrib, RDF_TYPE, _iri(SC + "Contribution"))
            yield _t(contrib, LABEL, _lit(f"Contribution {m}.{i}", "en"))
            yield _t(contrib, SC + "contributionTo", _iri(iri))
            yield _t(contrib, SC + "providedBy", _iri(provider))
            yield _t(contrib, SC + "providedItem", _iri(inst))
            yield _t(contrib, PROV, _iri(source))
        for kind in ("Launch", "Landing"):
            ev = f"{iri}-{kind.lower()}"
            yield _t(ev, RDF_TYPE, _iri(SC + kind))
            yield _t(ev, RDF_TYPE, _iri(SC + "Event"))
            yield _t(ev, LABEL, _lit(f"{kind} of {name}", "en"))
            yield _t(ev, SC + "mission", _iri(iri))
            month = rng.randrange(1, 13)
            yield _t(ev, SC + "date", _lit(f"{year}-{month:02d}", datatype=XSD + "gYearMonth"))
            yield _t(ev, PROV, _iri(source))


def write(size: int, path: Path) -> int:
    """Write the graph to ``path`` (N-Triples); returns the number of triples."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for line in triples(size):
            f.write(line)
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size", type=int)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    print(f"{write(args.size, args.output):,} triples → {args.output}")


if __name__ == "__main__":
    main()
