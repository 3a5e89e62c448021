"""Search: the label index against a regex FILTER, and what building the index costs.

Per size (synthetic graphs of generate.py):

* **build**: ``linked.search.build_index`` in this process over the parsed N-Triples file
  (seconds, entries, file bytes), beside ``spacecoop load FILE --store oxigraph:DIR
  --no-dumps`` — the store alone — so the index's cost reads as a share of a load;
* **ours**: ``GET /api/search?q=…`` on ``spacecoop serve`` (run.py's System "spacecoop"),
  once it answers 200 (a 202 means the index is still being built: polled);
* **oxigraph**: the same texts, same order, as ``REGEX(STR(?l), "…", "i") … LIMIT 10`` on
  ``oxigraph serve-read-only --union-default-graph`` (run.py's System "oxigraph"), with a
  per-request timeout and a time budget, so a slow size gives fewer samples (counted).

The texts: distinct, drawn with a fixed seed from the graph's English labels (newqueries.py
reads them): whole words, their first 3–4 letters, and two-word fragments. Sequential, one
httpx client per server, every text timed (none is repeated, so no cache answers).

    python bench/search.py                        # 10k, 100k, 1M
    python bench/search.py --sizes 10000 100000
    python bench/search.py --quick                # a smoke run at 10k

Results go to stdout and to bench/results/search.{md,json}.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyoxigraph as ox

from generate import write as generate
from newqueries import GraphConstants, read_graph
from run import BIN, SYSTEMS, running, scratch, tree_pss_mb, write_results
from spacecoop.linked.search import build_index

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
SEED = "search-1"
REGEX_QUERY = ('SELECT ?s ?l WHERE {{ ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l '
               'FILTER(REGEX(STR(?l), "{pattern}", "i")) }} LIMIT 10')
REGEX_SPECIAL = set(r"\.^$|?*+()[]{}-")
# The same search as ours spelt as regexes: every word at the start of a word of the label,
# in any order, and the best ten (shortest label first: exact before prefix) — to rank,
# the FILTER must see every match, as the index does.
RANKED_QUERY = ('SELECT ?s ?l WHERE {{ ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l '
                'FILTER({tests}) }} ORDER BY STRLEN(?l) ?l LIMIT 10')


# --- the texts ----------------------------------------------------------------------------

def search_texts(graph: GraphConstants, count: int, rng: random.Random) -> list[str]:
    """``count`` distinct texts, shuffled: about half whole words, a quarter their first 3–4
    letters, a quarter two-word fragments (fewer of a kind the graph has too few of)."""
    words = graph.words()
    prefixes = sorted({w[:n] for w in words for n in (3, 4) if len(w) > n})
    fragments = graph.fragments()
    wanted = [(words, count // 2), (prefixes, count // 4), (fragments, count - count // 2 - count // 4)]
    picked: list[str] = []
    for pool, n in wanted:
        picked += rng.sample(pool, min(n, len(pool)))
    rest = [t for t in words + prefixes + fragments if t not in set(picked)]
    picked += rng.sample(rest, max(0, min(count - len(picked), len(rest))))
    picked = list(dict.fromkeys(picked))
    rng.shuffle(picked)
    return picked


def regex_pattern(text: str) -> str:
    """``text`` as a regex matching itself (escaped for the regex, then for the SPARQL string).

    >>> regex_pattern("x-ray")
    'x\\\\\\\\-ray'
    """
    escaped = "".join("\\" + c if c in REGEX_SPECIAL else c for c in text)
    return escaped.replace("\\", "\\\\").replace('"', '\\"')


def ranked_query(text: str) -> str:
    """``text`` as RANKED_QUERY: one word-start regex per word, all of them required.

    >>> print(ranked_query("x-ray lunar").split("FILTER")[1].split(" ORDER")[0])
    (REGEX(STR(?l), "\\\\bx\\\\-ray", "i") && REGEX(STR(?l), "\\\\blunar", "i")) }
    """
    tests = " && ".join(f'REGEX(STR(?l), "{regex_pattern_at_word(w)}", "i")' for w in text.split())
    return RANKED_QUERY.format(tests=tests)


def regex_pattern_at_word(word: str) -> str:
    """``word`` as a regex matching it at the start of a word (escaped for SPARQL too)."""
    return "\\\\b" + regex_pattern(word)


# --- measuring ----------------------------------------------------------------------------

def time_build(data: Path) -> dict[str, Any]:
    """The label index of ``data`` built in this process, into a scratch file."""
    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        began = time.perf_counter()
        stats = build_index(ox.parse(path=str(data), format=ox.RdfFormat.N_TRIPLES), Path(scratch) / "search.sqlite")
        seconds = time.perf_counter() - began
    return {"build_s": seconds, "entries": stats.entries, "entities": stats.entities, "bytes": stats.bytes}


def time_load(data: Path) -> float:
    """Seconds of ``spacecoop load --no-dumps`` (the store alone) of ``data``."""
    store = WORK / f"search-load-{data.stem}"
    shutil.rmtree(store, ignore_errors=True)
    began = time.perf_counter()
    subprocess.run([str(BIN / "spacecoop"), "load", str(data), "--store", f"oxigraph:{store}", "--no-dumps"],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - began
    shutil.rmtree(store, ignore_errors=True)
    return seconds


def wait_search(client: httpx.Client, url: str, timeout: float) -> float:
    """Seconds until ``url`` answers a search with 200 (honouring Retry-After on a 202)."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        r = client.get(url, params={"q": "x"})
        if r.status_code == 200:
            return time.perf_counter() - began
        if r.status_code != 202:
            raise RuntimeError(f"{url}: HTTP {r.status_code} {r.text[:200]}")
        time.sleep(min(float(r.headers.get("Retry-After", "1")), 1.0))
    raise RuntimeError(f"{url}: no index after {timeout} s")


def timed_gets(client: httpx.Client, url: str, params: list[dict[str, str]], budget: float) -> dict[str, Any]:
    """Sequential GETs of ``params`` until done or past ``budget`` seconds: p50/p95 of the
    answered ones, how many were sent, how many failed or timed out, rows per answer."""
    times: list[float] = []
    rows: list[int] = []
    failed = timed_out = 0
    began = time.perf_counter()
    for p in params:
        if time.perf_counter() - began > budget:
            break
        t0 = time.perf_counter()
        try:
            r = client.get(url, params=p)
        except httpx.TimeoutException:
            timed_out += 1
            continue
        elapsed = time.perf_counter() - t0
        if r.status_code != 200:
            failed += 1
            continue
        times.append(elapsed)
        body = r.json()
        rows.append(len(body["results"]["bindings"] if "head" in body else body["results"]))
    out: dict[str, Any] = {"sent": len(times) + failed + timed_out, "answered": len(times), "failed": failed,
                           "timed_out": timed_out, "rows_mean": statistics.fmean(rows) if rows else None}
    if times:
        ordered = sorted(times)
        out |= {"p50_ms": 1000 * statistics.median(ordered),
                "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
                "max_ms": 1000 * ordered[-1]}
    return out


def bench_ours(data: Path, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """``spacecoop serve`` on a store of ``data``: /api/search latency over ``texts``."""
    systems = {s.name: s for s in SYSTEMS}
    res: dict[str, Any] = {}
    with scratch(WORK / f"search-spacecoop-{data.stem}") as work, \
            running(systems["spacecoop"], data, work, res) as (port, _, proc), \
            httpx.Client(timeout=args.timeout) as client:
        url = f"http://127.0.0.1:{port}/api/search"
        res["index_wait_s"] = wait_search(client, url, timeout=900)
        res["latency"] = timed_gets(client, url, [{"q": t, "limit": "10"} for t in texts], args.budget)
        res["pss_mb"] = tree_pss_mb(proc.pid)
    return res


def bench_oxigraph(data: Path, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """``oxigraph serve-read-only`` on ``data``: the regex FILTER over the same ``texts``."""
    systems = {s.name: s for s in SYSTEMS}
    res: dict[str, Any] = {}
    headers = {"Accept": "application/sparql-results+json"}
    with scratch(WORK / f"search-oxigraph-{data.stem}") as work, \
            running(systems["oxigraph"], data, work, res) as (_, url, _proc), \
            httpx.Client(timeout=args.timeout, headers=headers) as client:
        params = [{"query": REGEX_QUERY.format(pattern=regex_pattern(t))} for t in texts]
        res["latency"] = timed_gets(client, url, params, args.budget)
        ranked = [{"query": ranked_query(t)} for t in texts]
        res["ranked"] = timed_gets(client, url, ranked, args.budget)
    return res


def bench_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    data = WORK / f"synthetic-{size}.nt"
    if not data.exists():
        generate(size, data)
    texts = search_texts(read_graph(data), args.searches, random.Random(f"{SEED}-{size}"))
    out: dict[str, Any] = {"texts": len(texts), "examples": texts[:8]}
    print(f"[{size:,}] index build …", file=sys.stderr, flush=True)
    out["build"] = time_build(data)
    print(f"[{size:,}] spacecoop load --no-dumps …", file=sys.stderr, flush=True)
    out["load_s"] = time_load(data)
    for name, bench in (("spacecoop", bench_ours), ("oxigraph", bench_oxigraph)):
        print(f"[{size:,}] {name} …", file=sys.stderr, flush=True)
        try:
            out[name] = bench(data, texts, args)
        except Exception as err:  # one failing server must not lose the other's figures
            out[name] = {"error": str(err)}
    return out


# --- the report ---------------------------------------------------------------------------

def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def size_section(size: int, res: dict[str, Any], args: argparse.Namespace) -> list[str]:
    build, load = res["build"], res["load_s"]
    ours = res.get("spacecoop", {}).get("latency", {})
    oxi = res.get("oxigraph", {}).get("latency", {})
    ranked = res.get("oxigraph", {}).get("ranked", {})

    def ratio(other: dict[str, Any], key: str) -> str:
        return fmt(other[key] / ours[key]) + "×" if ours.get(key) and other.get(key) else "–"

    lines = [f"## {size:,} triples", "",
             "| build s | load s (no dumps) | build/load | entries | index MB | ours p50 ms | ours p95 ms |",
             "|---:|---:|---:|---:|---:|---:|---:|",
             f"| {fmt(build['build_s'], 2)} | {fmt(load, 2)} | {fmt(100 * build['build_s'] / load, 0)} % | "
             f"{build['entries']:,} | {fmt(build['bytes'] / 2**20)} | {fmt(ours.get('p50_ms'), 2)} | "
             f"{fmt(ours.get('p95_ms'), 2)} |", "",
             "| Oxigraph's regex FILTER | p50 ms | p95 ms | its p50 / ours | its p95 / ours |",
             "|---|---:|---:|---:|---:|",
             f"| the best ten (every word at a word start, ranked) | {fmt(ranked.get('p50_ms'))} | "
             f"{fmt(ranked.get('p95_ms'))} | {ratio(ranked, 'p50_ms')} | {ratio(ranked, 'p95_ms')} |",
             f"| any ten (the text as one phrase, unranked) | {fmt(oxi.get('p50_ms'))} | {fmt(oxi.get('p95_ms'))} | "
             f"{ratio(oxi, 'p50_ms')} | {ratio(oxi, 'p95_ms')} |", ""]
    oxigraph = res.get("oxigraph", {})
    runs = [("spacecoop", res.get("spacecoop", {}), "latency"), ("oxigraph any ten", oxigraph, "latency"),
            ("oxigraph best ten", oxigraph, "ranked")]
    for name, r, key in runs:
        if "error" in r or key not in r:
            lines += [f"**{name} failed:** {r.get('error', 'no figures')}", ""]
            continue
        lat = r[key]
        lines.append(f"- {name}: {lat['answered']} of {res['texts']} texts answered in the {args.budget:g} s budget "
                     f"({lat['failed']} non-200, {lat['timed_out']} past {args.timeout:g} s), "
                     f"{fmt(lat.get('rows_mean'))} rows on average, slowest {fmt(lat.get('max_ms'))} ms"
                     + (f"; index ready {fmt(r['index_wait_s'], 2)} s after the server answered"
                        if "index_wait_s" in r else "") + ".")
    lines += ["", "Examples: " + ", ".join(f"`{t}`" for t in res["examples"]), ""]
    return lines


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = ["# Search: label index vs. regex FILTER", "",
             f"Machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}. Sequential, one client, "
             f"{args.searches} distinct texts per size (words, 3–4-letter prefixes, two-word fragments); ours "
             "`GET /api/search?q=…&limit=10` (the ten best, ranked). Oxigraph, the same texts twice: the "
             "best ten as a search gives them — `FILTER(REGEX(STR(?l), \"\\\\bword\", \"i\") && …) "
             "ORDER BY STRLEN(?l) LIMIT 10`, which must see every match to rank — and any ten, "
             "`REGEX(STR(?l), \"text\", \"i\") LIMIT 10`, which stops at the first ten. Build: "
             "`build_index` in-process over the parsed file; load: `spacecoop load --no-dumps`. "
             "Targets: build ≤ 25 % of load and p50 ≤ 5 ms at 1M; ≥ 50× the regex FILTER.", ""]
    for size, res in results.items():
        lines += size_section(int(size), res, args)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--searches", type=int, default=200, help="distinct texts per size")
    ap.add_argument("--budget", type=float, default=120.0, help="max seconds of searches per server and size")
    ap.add_argument("--timeout", type=float, default=30.0, help="give up on one request after this")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 10k triples, 40 texts")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.searches, args.budget = [10_000], 40, 20.0
    WORK.mkdir(parents=True, exist_ok=True)
    results = {str(size): bench_size(size, args) for size in args.sizes}
    write_results("search", results, report(results, args))


if __name__ == "__main__":
    main()
