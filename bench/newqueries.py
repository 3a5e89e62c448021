"""Distinct queries ("real public load"): every request a text the server has never seen.

run.py times each reference query many times (a comment per run defeats the response
cache, but the text is otherwise the same) and measures throughput on one repeated
query. The public sends something else: the same few shapes with a different constant
each time. Here each of the six reference templates yields a sequence of new texts whose
constants are drawn, with a fixed seed, from the generated graph itself — another
mission, agency or instrument IRI, another word of the labels, another class, OFFSET or
LIMIT — never a comment. SpaceCoop KG and ``oxigraph serve-read-only`` (same file, same
named graph, union default graph, as in run.py) are started one after the other and sent
the same sequence.

Per size: uncached latency (one connection, sequential; p50/p95 per template, after a
few warm-up texts that are not timed), then throughput at 8 keep-alive connections
(loadgen.py; each connection its own loopback address, i.e. eight clients, as the public
is) on distinct describes and distinct instruments-of-an-agency queries, and — for ours —
throughput on ONE repeated describe, to check that the cached path stays where it was.
Throughput counts answers (200); any other status is listed beside it. The generator's
own ceiling (loadgen.py's self-test) is measured first. About 5 minutes for both sizes on
the 2-core development machine (the 1M store's load is most of it).

    python bench/newqueries.py                        # 100k and 1M triples
    python bench/newqueries.py --sizes 100000
    python bench/newqueries.py --quick                # a smoke run at 10k, 5 s loads

Results go to stdout and to bench/results/newqueries.{md,json}.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from generate import SC
from generate import write as generate
from loadgen import get_request, run_load, run_sync, self_test
from run import SYSTEMS, System, running, scratch, tree_pss_mb, write_results

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
RDFS_LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"
PREFIX = f"PREFIX sc: <{SC}> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
SEED = "newqueries-1"
JSON_RESULTS = "application/sparql-results+json"
WARM_UP = 3  # texts per template sent untimed before the timed ones
PREFETCH = 20_000  # requests encoded before a load run starts (the rest on the fly)


@dataclass
class GraphConstants:
    """What the query templates draw their constants from, read off the generated file."""

    by_class: dict[str, list[str]] = field(default_factory=dict)  # local class name → IRIs, file order
    label_en: dict[str, str] = field(default_factory=dict)  # IRI → its English label

    @property
    def entities(self) -> list[str]:
        """Every typed IRI, once (an event typed twice is listed once)."""
        return list(dict.fromkeys(itertools.chain.from_iterable(self.by_class.values())))

    def words(self, iris: Sequence[str] | None = None) -> list[str]:
        """The distinct words (letters, three or more) of the English labels of ``iris`` (all by default)."""
        labels = self.label_en.values() if iris is None else (self.label_en.get(i, "") for i in iris)
        return sorted({w for label in labels for w in label_words(label)})

    def fragments(self) -> list[str]:
        """The distinct two-word fragments of the English labels ("solar wind")."""
        out = set()
        for label in self.label_en.values():
            tokens = label.lower().split()
            out.update(f"{a} {b}" for a, b in itertools.pairwise(tokens) if is_word(a) and is_word(b))
        return sorted(out)


WORD = re.compile(r"[a-z][a-z-]{2,}")


def is_word(token: str) -> bool:
    return WORD.fullmatch(token) is not None


def label_words(label: str) -> list[str]:
    return [t for t in label.lower().split() if is_word(t)]


def read_graph(path: Path) -> GraphConstants:
    """Classes and English labels of the N-Triples file written by generate.py."""
    graph = GraphConstants()
    ontology = f"<{SC}"
    with path.open(encoding="utf-8") as f:
        for line in f:
            subject, predicate, rest = line.split(" ", 2)
            if predicate == RDF_TYPE and rest.startswith(ontology):
                graph.by_class.setdefault(rest[len(ontology):rest.index(">")], []).append(subject[1:-1])
            elif predicate == RDFS_LABEL and rest.rstrip(" .\n").endswith('"@en'):
                graph.label_en[subject[1:-1]] = rest[1:rest.rindex('"')]
    return graph


def shuffled(items: Sequence[Any], rng: random.Random) -> list[Any]:
    out = list(items)
    rng.shuffle(out)
    return out


# --- the six templates: each an endless (or long) sequence of distinct texts ---------------

DESCRIBE_FORMS = (
    "SELECT ?p ?o WHERE {{ <{iri}> ?p ?o }}",
    "SELECT ?s ?p WHERE {{ ?s ?p <{iri}> }}",
    "SELECT ?p ?o WHERE {{ <{iri}> ?p ?o FILTER(isIRI(?o)) }}",
    "SELECT ?p ?o WHERE {{ <{iri}> ?p ?o FILTER(isLiteral(?o)) }}",
)


def describe_texts(entities: Sequence[str], rng: random.Random) -> Iterator[str]:
    """Describe one entity: every entity (shuffled) in the reference form, then in the other
    forms (incoming links, IRI or literal values only), then with LIMIT 1, 2, …"""
    for rnd in itertools.count():
        for iri in shuffled(entities, rng):
            if rnd < len(DESCRIBE_FORMS):
                yield DESCRIBE_FORMS[rnd].format(iri=iri)
            else:
                yield f"{DESCRIBE_FORMS[0].format(iri=iri)} LIMIT {rnd - len(DESCRIBE_FORMS) + 1}"


def construct_texts(graph: GraphConstants, rng: random.Random) -> Iterator[str]:
    """The neighbourhood of a mission (then of an instrument, then of any entity)."""
    order = shuffled(graph.by_class["Mission"], rng) + shuffled(graph.by_class["Instrument"], rng)
    for iri in order + shuffled(graph.entities, rng):
        yield (f"CONSTRUCT {{ ?m ?p ?o . ?x ?q ?m }} WHERE {{ VALUES ?m {{ <{iri}> }} "
               "{ ?m ?p ?o } UNION { ?x ?q ?m } }")


def missions_texts(graph: GraphConstants, rng: random.Random) -> Iterator[str]:
    """Missions with vehicle and agency, LIMIT 100: a word of the mission labels and an OFFSET."""
    pairs = list(itertools.product(graph.words(graph.by_class["Mission"]), range(0, 100, 10)))
    for word, offset in shuffled(pairs, rng):
        yield (PREFIX + "SELECT ?m ?label ?vehicle ?agency WHERE { ?m a sc:Mission ; rdfs:label ?label ; "
               "sc:launchedOn ?vehicle . OPTIONAL { ?vehicle sc:providedBy ?agency } "
               f"FILTER(lang(?label) = 'en' && CONTAINS(LCASE(STR(?label)), '{word}')) }} "
               f"LIMIT 100 OFFSET {offset}")


def instruments_texts(graph: GraphConstants, rng: random.Random) -> Iterator[str]:
    """The instruments on the missions an agency contributes to: the agency, and a LIMIT
    (50–999 first: about the size of the answer, so it often cuts it; then 1000, 1001, …)."""
    agencies = graph.by_class["Agency"]
    for limit in itertools.chain(shuffled(range(50, 1000), rng), itertools.count(1000)):
        for agency in shuffled(agencies, rng):
            yield (PREFIX + f"SELECT DISTINCT ?i ?m WHERE {{ ?c sc:providedBy <{agency}> ; "
                   f"sc:contributionTo ?m . ?i sc:carriedOn ?m }} LIMIT {limit}")


def count_texts(graph: GraphConstants, rng: random.Random) -> Iterator[str]:
    """Things provided per agency: the class counted, an agency left out, a HAVING threshold."""
    combos = itertools.product(("Instrument", "Contribution", "LaunchVehicle"), graph.by_class["Agency"], range(1, 11))
    for cls, agency, least in shuffled(list(combos), rng):
        yield (PREFIX + f"SELECT ?a (COUNT(?i) AS ?n) WHERE {{ ?i a sc:{cls} ; sc:providedBy ?a "
               f"FILTER(?a != <{agency}>) }} GROUP BY ?a HAVING (COUNT(?i) >= {least}) ORDER BY DESC(?n)")


def label_texts(graph: GraphConstants, rng: random.Random) -> Iterator[str]:
    """Label search, LIMIT 100: every word of the labels (shuffled), then two-word fragments."""
    for term in shuffled(graph.words(), rng) + shuffled(graph.fragments(), rng):
        yield (PREFIX + "SELECT ?s ?l WHERE { ?s rdfs:label ?l "
               f"FILTER(CONTAINS(LCASE(STR(?l)), '{term}')) }} LIMIT 100")


@dataclass(frozen=True)
class Template:
    name: str
    texts: Callable[[GraphConstants, random.Random], Iterator[str]]
    accept: str = JSON_RESULTS


TEMPLATES = (
    Template("describe", lambda g, rng: describe_texts(g.entities, rng)),
    Template("construct-neighbourhood", construct_texts, "text/turtle"),
    Template("missions+vehicle+agency", missions_texts),
    Template("instruments-of-agency", instruments_texts),
    Template("count-per-agency", count_texts),
    Template("label-search", label_texts),
)
THROUGHPUT_TEMPLATES = ("describe", "instruments-of-agency")


class TextStream:
    """A template's texts, drawn once and replayed identically to every server; never a repeat."""

    def __init__(self, texts: Iterator[str]) -> None:
        self.source = texts
        self.drawn: list[str] = []
        self.seen: set[str] = set()

    def __getitem__(self, i: int) -> str:
        while len(self.drawn) <= i:
            try:
                text = next(self.source)
            except StopIteration:
                raise IndexError(f"the template has only {len(self.drawn)} distinct texts") from None
            if text not in self.seen:
                self.seen.add(text)
                self.drawn.append(text)
        return self.drawn[i]

    def slice(self, start: int, count: int) -> list[str]:
        return [self[i] for i in range(start, start + count)]


class RequestStream(Sequence[bytes]):
    """GET requests for the texts of a stream from ``start`` on: endless, encoded once each."""

    def __init__(self, texts: TextStream, start: int, port: int, path: str, accept: str) -> None:
        self.texts, self.start, self.port, self.path, self.accept = texts, start, port, path, accept
        self.encoded: list[bytes] = []

    def __len__(self) -> int:
        return sys.maxsize

    def __getitem__(self, i):  # type: ignore[no-untyped-def]  # Sequence's overloads; ints only here
        while len(self.encoded) <= i:
            text = self.texts[self.start + len(self.encoded)]
            self.encoded.append(get_request("127.0.0.1", self.port, f"{self.path}?query={quote(text, safe='')}",
                                            self.accept))
        return self.encoded[i]


# --- measuring ---------------------------------------------------------------------------

def result_rows(response: httpx.Response) -> int | None:
    """Rows of a JSON SELECT answer (to check both servers answered alike); None otherwise."""
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith(JSON_RESULTS):
        return None
    return len(response.json()["results"]["bindings"])


def latency(client: httpx.Client, url: str, texts: Sequence[str], accept: str) -> dict[str, Any]:
    """Sequential GETs on one connection: the first WARM_UP texts untimed, then p50/p95 of the rest."""
    times, rows, statuses = [], [], []
    for i, text in enumerate(texts):
        t0 = time.perf_counter()
        r = client.get(url, params={"query": text}, headers={"Accept": accept})
        elapsed = time.perf_counter() - t0
        if i < WARM_UP:
            continue
        times.append(elapsed)
        statuses.append(r.status_code)
        rows.append(result_rows(r))
    ordered = sorted(times)
    return {"p50_ms": 1000 * statistics.median(ordered),
            "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "runs": len(times), "non_200": sum(1 for s in statuses if s != 200), "rows": rows}


def throughput(port: int, requests: Sequence[bytes], seconds: float, workload: int) -> dict[str, Any]:
    """Requests/s at 8 connections (loadgen.py), with statuses and latency percentiles.

    Each connection is its own client (127.0.W.1 … 127.0.W.8, W = 10 + ``workload``): the
    public is many clients, and ours gives each client a fair share of the workers; eight
    connections from one address would measure that limit instead (fairness.py does).
    """
    sources = [f"127.0.{10 + workload}.{1 + i}" for i in range(8)]
    return run_sync(run_load("127.0.0.1", port, requests, 8, seconds, sources)).as_dict()


def bench_system(system: System, data: Path, streams: dict[str, TextStream], args: argparse.Namespace,
                 ) -> dict[str, Any]:
    """Start one system on the data, measure it, stop it."""
    res: dict[str, Any] = {"load_average_before": os.getloadavg()}
    with scratch(WORK / f"newqueries-{system.name}-{data.stem}") as work, \
            running(system, data, work, res) as (port, url, proc):
        res["pss_mb_start"] = tree_pss_mb(proc.pid)
        count = WARM_UP + args.runs
        with httpx.Client(timeout=60) as client:
            res["latency"] = {t.name: latency(client, url, streams[t.name].slice(0, count), t.accept)
                              for t in TEMPLATES}
        res["throughput"] = {}
        for workload, t in enumerate(t for t in TEMPLATES if t.name in THROUGHPUT_TEMPLATES):
            requests = RequestStream(streams[t.name], count, port, system.path, t.accept)
            requests[PREFETCH - 1]  # encode ahead, off the timed path
            res["throughput"][f"distinct {t.name}"] = throughput(port, requests, args.seconds, workload)
        if system.name == "spacecoop":
            repeated = [get_request("127.0.0.1", port, f"{system.path}?query={quote(streams['describe'][0])}",
                                    JSON_RESULTS)]
            res["throughput"]["repeated describe"] = throughput(port, repeated, args.seconds,
                                                                len(THROUGHPUT_TEMPLATES))
        res["pss_mb_end"] = tree_pss_mb(proc.pid)
    return res


def bench_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    data = WORK / f"synthetic-{size}.nt"
    if not data.exists():
        generate(size, data)
    graph = read_graph(data)
    streams = {t.name: TextStream(t.texts(graph, random.Random(f"{SEED}-{t.name}"))) for t in TEMPLATES}
    out: dict[str, Any] = {"entities": len(graph.entities), "agencies": len(graph.by_class["Agency"]),
                           "examples": {t.name: streams[t.name][WARM_UP] for t in TEMPLATES}}
    systems = {s.name: s for s in SYSTEMS}
    for name in ("spacecoop", "oxigraph"):
        print(f"[{size:,}] {name} …", file=sys.stderr, flush=True)
        try:
            out[name] = bench_system(systems[name], data, streams, args)
        except Exception as err:  # one failing system must not lose the other's figures
            out[name] = {"error": str(err)}
    return out


# --- the report ----------------------------------------------------------------------------

def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def agreement(ours: dict[str, Any], oxigraph: dict[str, Any]) -> str:
    """How many texts got the same number of rows from both (SELECT answers only)."""
    pairs = [(a, b) for a, b in zip(ours.get("rows", []), oxigraph.get("rows", []), strict=False)
             if a is not None and b is not None]
    return f"{sum(a == b for a, b in pairs)}/{len(pairs)}" if pairs else "–"


def load_average(res: dict[str, Any]) -> str:
    return fmt(res["load_average_before"][0], 2) if "load_average_before" in res else "–"


def statuses(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in figures.get("statuses", {}).items()) or "–"


def size_section(size: int, res: dict[str, Any], args: argparse.Namespace) -> list[str]:
    ours, oxi = res.get("spacecoop", {}), res.get("oxigraph", {})
    lines = [f"## {size:,} triples", "",
             f"{res['entities']:,} entities, {res['agencies']} agencies. Ours: load {fmt(ours.get('load_s'), 2)} s, "
             f"PSS {fmt(ours.get('pss_mb_start'), 0)} MB at start, {fmt(ours.get('pss_mb_end'), 0)} MB after the "
             f"run; Oxigraph: load {fmt(oxi.get('load_s'), 2)} s, PSS {fmt(oxi.get('pss_mb_end'), 0)} MB. "
             f"Machine load average (1 min) before ours {load_average(ours)}, before Oxigraph {load_average(oxi)} "
             "(other work on the machine shares the cores).", ""]
    for name, r in (("spacecoop", ours), ("oxigraph", oxi)):
        if "error" in r:
            lines += [f"**{name} failed:** {r['error']}", ""]
    lines += [f"Latency: one connection, sequential, {args.runs} new texts per template (after {WARM_UP} "
              "untimed), in ms.", "",
              "| template | ours p50 | ours p95 | oxigraph p50 | oxigraph p95 | ours/oxigraph p50 | "
              "ours/oxigraph p95 | non-200 ours/oxigraph | same row count |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in TEMPLATES:
        o, x = ours.get("latency", {}).get(t.name, {}), oxi.get("latency", {}).get(t.name, {})
        lines.append(f"| {t.name} | {fmt(o.get('p50_ms'))} | {fmt(o.get('p95_ms'))} | {fmt(x.get('p50_ms'))} | "
                     f"{fmt(x.get('p95_ms'))} | {ratio(o.get('p50_ms'), x.get('p50_ms'))} | "
                     f"{ratio(o.get('p95_ms'), x.get('p95_ms'))} | {o.get('non_200', '–')}/{x.get('non_200', '–')} | "
                     f"{agreement(o, x)} |")
    lines += ["", f"Throughput: 8 keep-alive connections, each its own client address, {args.seconds:g} s, every "
              "request a new text (but the last row); answers (200) per second.", "",
              "| workload | ours 200/s | oxigraph 200/s | ours/oxigraph | ours p50/p99 ms | oxigraph p50/p99 ms | "
              "ours statuses | oxigraph statuses |", "|---|---:|---:|---:|---:|---:|---|---|"]
    for workload, o in ours.get("throughput", {}).items():
        x = oxi.get("throughput", {}).get(workload, {})
        lines.append(f"| {workload} | {fmt(o.get('ok_rps'), 0)} | {fmt(x.get('ok_rps'), 0)} | "
                     f"{ratio(o.get('ok_rps'), x.get('ok_rps'))} | {fmt(o.get('p50_ms'))}/{fmt(o.get('p99_ms'))} | "
                     f"{fmt(x.get('p50_ms'))}/{fmt(x.get('p99_ms'))} | {statuses(o)} | {statuses(x)} |")
    lines += ["", "Example texts (the first timed one of each template):", ""]
    lines += [f"- {name}: `{text}`" for name, text in res["examples"].items()]
    return [*lines, ""]


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    ceiling = results["loadgen_ceiling"]
    lines = ["# Distinct queries (real public load)", "",
             f"Machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}. Generator ceiling (loadgen.py "
             f"--self-test, 8 connections, a raw asyncio responder): {fmt(ceiling['fixed-length']['rps'], 0)} req/s "
             f"fixed-length, {fmt(ceiling['chunked']['rps'], 0)} req/s chunked.", ""]
    for size, res in results["sizes"].items():
        lines += size_section(int(size), res, args)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--runs", type=int, default=40, help="timed texts per template (latency)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 10k triples, 10 texts, 5 s loads")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.runs, args.seconds = [10_000], 10, 5.0
    print("loadgen ceiling …", file=sys.stderr, flush=True)
    results: dict[str, Any] = {"loadgen_ceiling": self_test(8, 2.0 if args.quick else 3.0), "sizes": {}}
    for size in args.sizes:
        results["sizes"][str(size)] = bench_size(size, args)
    write_results("newqueries", results, report(results, args))


if __name__ == "__main__":
    main()
