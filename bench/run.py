"""The benchmark: this project against its peers, in one run, on one machine.

For each size (synthetic graphs shaped like ours) and each system — SpaceCoop KG,
rdflib-endpoint 0.6.3 with its defaults, ``oxigraph serve-read-only`` and a bare FastAPI
route (the HTTP ceiling) — it measures load time, memory (PSS of the whole process
tree) and, for the six reference queries plus every saved query, uncached latency p50/p95;
then throughput at 8 connections on a repeated query (wrk). Ours are printed as ratios
to each peer.

Oxigraph serves the very dataset we serve: the file's triples in the same named graph,
queried with the default graph as the union of the graphs (``--union-default-graph``), which
is our endpoint's documented semantics. Loaded into its default graph instead, Oxigraph
would answer a different, cheaper workload (the union costs 10–60 % on big joins).

    python bench/run.py                       # 10k, 100k, 1M
    python bench/run.py --sizes 10000 --quick # a smoke run

Results go to stdout and to bench/results/latest.{md,json}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
RESULTS = HERE / "results"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))
from generate import write as generate  # noqa: E402
from spacecoop.config import graph_iri  # noqa: E402
from spacecoop.rdf.sparql_text import query_form  # noqa: E402

SCR = "https://spacecoop.example/resource/"
PREFIX = ("PREFIX sc: <https://spacecoop.example/ontology#> "
          "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> ")
REFERENCE_QUERIES = {
    "describe": f"SELECT ?p ?o WHERE {{ <{SCR}mission-3> ?p ?o }}",
    "missions+vehicle+agency": PREFIX + "SELECT ?m ?label ?vehicle ?agency WHERE { ?m a sc:Mission ; "
    "rdfs:label ?label ; sc:launchedOn ?vehicle . OPTIONAL { ?vehicle sc:providedBy ?agency } "
    "FILTER(lang(?label) = 'en') } LIMIT 1000",
    "instruments-of-agency": PREFIX + f"SELECT DISTINCT ?i ?m WHERE {{ ?c sc:providedBy <{SCR}agency-1> ; "
    "sc:contributionTo ?m . ?i sc:carriedOn ?m }",
    "count-per-agency": PREFIX + "SELECT ?a (COUNT(?i) AS ?n) WHERE { ?i a sc:Instrument ; sc:providedBy ?a } "
    "GROUP BY ?a ORDER BY DESC(?n)",
    "label-search": PREFIX + "SELECT ?s ?l WHERE { ?s rdfs:label ?l "
    "FILTER(CONTAINS(LCASE(STR(?l)), 'solar')) } LIMIT 100",
    "construct-neighbourhood": f"CONSTRUCT {{ ?m ?p ?o . ?x ?q ?m }} WHERE {{ VALUES ?m {{ <{SCR}mission-3> }} "
    "{ ?m ?p ?o } UNION { ?x ?q ?m } }",
}


def saved_queries() -> dict[str, str]:
    """Every saved query of the project, with its parameters' defaults bound."""
    try:
        from spacecoop.engine.store import bound_query
        from spacecoop.saved import saved_queries as sq
    except ImportError:
        return {}
    out = {}
    for q in sq.load_all():
        try:
            out[f"saved:{q.name}"] = bound_query(sq.bind(q, {}))
        except Exception:  # a query whose parameters have no default is skipped
            continue
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process and its descendants (shared pages counted once)."""
    pids, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child in Path(f"/proc/{parent}/task").glob("*/children"):
            for c in child.read_text().split():
                if int(c) not in pids:
                    pids.add(int(c))
                    frontier.append(int(c))
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


@dataclass
class System:
    name: str
    start: Callable[[Path, Path, int], subprocess.Popen]  # (data file, workdir, port)
    path: str
    prepare: Callable[[Path, Path], float] | None = None  # offline load step; returns seconds
    results: dict = field(default_factory=dict)


def _popen(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **(env or {})})


def ours_prepare(data: Path, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "spacecoop"), "load", str(data), "--store", f"oxigraph:{work / 'ours'}"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def ours_start(data: Path, work: Path, port: int) -> subprocess.Popen:
    # The same limit the benchmark's client allows every system (--query-timeout).
    return _popen([str(BIN / "spacecoop"), "serve", "--store", f"oxigraph:{work / 'ours'}", "--port", str(port),
                   "--timeout", os.environ.get("BENCH_QUERY_TIMEOUT", "15")])


def oxigraph_prepare(data: Path, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "oxigraph"), "load", "--location", str(work / "oxigraph"), "--file", str(data),
                    "--graph", graph_iri(data.stem)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def oxigraph_start(data: Path, work: Path, port: int) -> subprocess.Popen:
    return _popen([str(BIN / "oxigraph"), "serve-read-only", "--location", str(work / "oxigraph"),
                   "--bind", f"127.0.0.1:{port}", "--union-default-graph"])


def rdflib_endpoint_start(data: Path, work: Path, port: int) -> subprocess.Popen:
    return _popen([str(BIN / "rdflib-endpoint"), "serve", str(data), "--host", "127.0.0.1", "--port", str(port)])


def ceiling_start(data: Path, work: Path, port: int) -> subprocess.Popen:
    return _popen([str(BIN / "uvicorn"), "ceiling_app:app", "--app-dir", str(HERE), "--port", str(port),
                   "--log-level", "warning", "--no-access-log"])


SYSTEMS = [
    System("spacecoop", ours_start, "/sparql", ours_prepare),
    System("rdflib-endpoint", rdflib_endpoint_start, "/"),
    System("oxigraph", oxigraph_start, "/query", oxigraph_prepare),
    System("fastapi-ceiling", ceiling_start, "/sparql"),
]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> float:
    started = time.perf_counter()
    # One client for every poll: a fresh httpx client builds a TLS context (~30 ms of CPU),
    # and a poller that burns a core would slow the start-up it is timing.
    with httpx.Client(timeout=5) as client:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: server exited")
            try:
                r = client.get(url, params={"query": "ASK { ?s ?p ?o }"})
                if r.status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"{url}: not ready after {timeout} s")


def latency(client: httpx.Client, url: str, query: str, runs: int, budget: float) -> dict:
    """Uncached latency: a unique comment per run defeats any result cache."""
    times: list[float] = []
    started = time.perf_counter()
    for i in range(runs):
        accept = "text/turtle" if query_form(query) in ("CONSTRUCT", "DESCRIBE") \
            else "application/sparql-results+json"
        t0 = time.perf_counter()
        try:
            r = client.post(url, content=f"{query}\n# run {i} {time.time_ns()}",
                            headers={"Content-Type": "application/sparql-query", "Accept": accept})
        except httpx.TimeoutException:
            return {"error": f"> {client.timeout.read:.0f} s"}
        times.append(time.perf_counter() - t0)
        if r.status_code != 200:
            return {"error": f"HTTP {r.status_code}"}
        # Slow systems get fewer samples: at least three, or one when a single run is past the budget.
        if time.perf_counter() - started > budget and (len(times) >= 3 or times[0] > budget):
            break
    first = times[0]
    times.sort()
    return {"first_ms": 1000 * first, "p50_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * times[min(len(times) - 1, int(0.95 * len(times)))], "runs": len(times)}


def throughput(url: str, query: str, seconds: int) -> float | None:
    """Requests/s at 8 connections on one repeated (cacheable) GET, measured with wrk."""
    if not shutil.which("wrk"):
        return None
    target = f"{url}?query={quote(query)}"
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "-H", "Accept: application/sparql-results+json",
                          target], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


@contextlib.contextmanager
def scratch(work: Path) -> Iterator[Path]:
    """``work`` as a new empty folder while the body runs, removed afterwards."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_results(stem: str, figures: object, text: str) -> None:
    """The report as bench/results/STEM.md, the figures as STEM.json, the report on stdout."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(text + "\n")
    (RESULTS / f"{stem}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(text)


@contextlib.contextmanager
def running(system: System, data: Path, work: Path, res: dict) -> Iterator[tuple[int, str, subprocess.Popen]]:
    """Load (if the system has a load step) and start ``system`` on ``data``; yield its port,
    query URL and process once it answers; stop it afterwards. ``res`` gets load_s, ready_s."""
    if system.prepare:
        res["load_s"] = system.prepare(data, work)
    port = free_port()
    url = f"http://127.0.0.1:{port}{system.path}"
    proc = system.start(data, work, port)
    try:
        res["ready_s"] = wait_ready(url, proc, timeout=900)
        yield port, url, proc
    finally:
        stop(proc)


def bench_system(system: System, data: Path, work: Path, queries: dict[str, str], args: argparse.Namespace) -> dict:
    res: dict = {}
    with running(system, data, work, res) as (_, url, proc):
        if "load_s" not in res and system.name != "fastapi-ceiling":
            res["load_s"] = res["ready_s"]  # loads at start-up
        res["pss_mb"] = tree_pss_mb(proc.pid)
        if system.name != "fastapi-ceiling":
            with httpx.Client(timeout=args.query_timeout) as client:
                res["queries"] = {name: latency(client, url, q, args.runs, args.budget) for name, q in queries.items()}
        res["rps_8"] = throughput(url, REFERENCE_QUERIES["describe"], args.wrk_seconds)
        res["pss_mb_after"] = tree_pss_mb(proc.pid)
    return res


def stop(proc: subprocess.Popen) -> None:
    """Stop a server's whole process group; one frozen by a running query is killed."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def startup_on_bundled_graph(starts: int) -> dict:
    """Seconds from `spacecoop serve` (the real graph, default store) to its first answer."""
    times = []
    for _ in range(starts):
        port = free_port()
        proc = _popen([str(BIN / "spacecoop"), "serve", "--port", str(port)])
        try:
            times.append(wait_ready(f"http://127.0.0.1:{port}/sparql", proc, timeout=60))
        finally:
            stop(proc)
    times.sort()
    return {"median_s": statistics.median(times), "min_s": times[0], "max_s": times[-1], "starts": starts}


def ms(result: dict, key: str) -> str:
    """A latency cell: the figure, or why there is none (an HTTP error, a skipped peer)."""
    if "error" in result:
        return result["error"]
    return f"{result[key]:.1f}" if key in result else "–"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def within_line(title: str, ours: dict, oxigraph: dict, key: str) -> list[str]:
    """How many queries ours answers within 1.5× of oxigraph's figure ``key``."""
    pairs = [(o.get(key), oxigraph.get("queries", {}).get(q, {}).get(key)) for q, o in ours.get("queries", {}).items()]
    pairs = [(a, b) for a, b in pairs if a and b]
    if not pairs:
        return []
    within = sum(1 for a, b in pairs if a <= 1.5 * b)
    return ["", f"{title}: {within} of {len(pairs)} queries within 1.5× of oxigraph "
                f"(both answered; the slowest ratio {max(a / b for a, b in pairs):.2f}×)."]


def report(all_results: dict, startup: dict) -> str:
    lines = ["# Benchmark", "", f"Machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}", ""]
    if startup:
        lines += ["## Start-up on the bundled graph", "",
                  f"`spacecoop serve` to its first answer: median {startup['median_s']:.2f} s over "
                  f"{startup['starts']} starts (min {startup['min_s']:.2f} s, max {startup['max_s']:.2f} s).", ""]
    for size, systems in all_results.items():
        lines += [f"## {size} triples", "", "| system | load s | ready s | PSS MB | req/s @8 (repeated) |",
                  "|---|---:|---:|---:|---:|"]
        for name, r in systems.items():
            if "error" in r:
                lines.append(f"| {name} | {r['error']} | | | |")
                continue
            lines.append(f"| {name} | {r.get('load_s', 0):.2f} | {r.get('ready_s', 0):.2f} | "
                         f"{r.get('pss_mb_after', 0):.0f} | {r.get('rps_8') or 0:,.0f} |")
        ours = systems.get("spacecoop", {})
        lines += ["", "| query | ours p50 ms | ours p95 ms | rdflib-endpoint p50 | oxigraph p50 | "
                  "ours/oxigraph | ours/rdflib-endpoint | ours 1st run | oxigraph 1st run |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for q, o in ours.get("queries", {}).items():
            rdf = systems.get("rdflib-endpoint", {}).get("queries", {}).get(q, {})
            oxi = systems.get("oxigraph", {}).get("queries", {}).get(q, {})
            lines.append(f"| {q} | {ms(o, 'p50_ms')} | {ms(o, 'p95_ms')} | {ms(rdf, 'p50_ms')} | {ms(oxi, 'p50_ms')} | "
                         f"{ratio(o.get('p50_ms'), oxi.get('p50_ms'))} | {ratio(o.get('p50_ms'), rdf.get('p50_ms'))} | "
                         f"{ms(o, 'first_ms')} | {ms(oxi, 'first_ms')} |")
        oxi_sys, rdf_sys, ceil = (systems.get(n, {}) for n in ("oxigraph", "rdflib-endpoint", "fastapi-ceiling"))
        lines += within_line("Uncached latency (p50)", ours, oxi_sys, "p50_ms")
        lines += within_line("First run of each query (new to both servers)", ours, oxi_sys, "first_ms")
        lines += ["", f"Ratios for ours: load {ratio(ours.get('load_s'), oxi_sys.get('load_s'))} of oxigraph, "
                  f"{ratio(ours.get('load_s'), rdf_sys.get('load_s'))} of rdflib-endpoint; "
                  f"throughput {ratio(ours.get('rps_8'), oxi_sys.get('rps_8'))} of oxigraph, "
                  f"{ratio(ours.get('rps_8'), rdf_sys.get('rps_8'))} of rdflib-endpoint, "
                  f"{ratio(ours.get('rps_8'), ceil.get('rps_8'))} of the bare-FastAPI ceiling.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--systems", nargs="+", default=[s.name for s in SYSTEMS])
    ap.add_argument("--runs", type=int, default=20, help="latency samples per query")
    ap.add_argument("--budget", type=float, default=20.0, help="max seconds of samples per query")
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--query-timeout", type=float, default=15.0, help="give up on one query after this")
    ap.add_argument("--quick", action="store_true", help="few samples, short wrk runs")
    ap.add_argument("--merge", action="store_true", help="update bench/results/latest.json instead of replacing it")
    ap.add_argument("--starts", type=int, default=10, help="start-ups of the real graph to time (0: skip)")
    args = ap.parse_args()
    os.environ["BENCH_QUERY_TIMEOUT"] = str(args.query_timeout)
    if args.quick:
        args.runs, args.budget, args.wrk_seconds = 5, 5.0, 2
    queries = {**REFERENCE_QUERIES, **saved_queries()}
    all_results: dict = {}
    startup: dict = {}
    if args.merge and (RESULTS / "latest.json").exists():
        # Re-measure some systems, keep the others' figures from the last run.
        saved = json.loads((RESULTS / "latest.json").read_text())
        startup = saved.get("startup", {})
        all_results = {int(k): v for k, v in saved.get("sizes", {}).items()}
    if args.starts and "spacecoop" in args.systems:
        print("start-up on the bundled graph …", file=sys.stderr, flush=True)
        startup = startup_on_bundled_graph(args.starts)
    for size in args.sizes:
        data = WORK / f"synthetic-{size}.nt"
        if not data.exists():
            generate(size, data)
        all_results.setdefault(size, {})
        for system in SYSTEMS:
            if system.name not in args.systems:
                continue
            print(f"[{size:,}] {system.name} …", file=sys.stderr, flush=True)
            with scratch(WORK / f"{system.name}-{size}") as work:
                try:
                    all_results[size][system.name] = bench_system(system, data, work, queries, args)
                except Exception as err:  # one failing peer must not lose the others' figures
                    all_results[size][system.name] = {"error": str(err)}
    write_results("latest", {"startup": startup, "sizes": all_results}, report(all_results, startup))


if __name__ == "__main__":
    main()
