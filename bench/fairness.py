"""Fairness: does a polite client still get answers while greedy clients hog the server?

G greedy clients (8 and 32 in one run, after a baseline with none), each on its own
loopback source address (127.0.0.10 + i: Linux routes all of 127/8 to lo) with one
keep-alive connection, send heavy queries back to back, a new text each time: a COUNT
over the cartesian product of two N-row subqueries, with a FILTER constant that differs
every time. N is found at start so that one such query takes 0.3–2 s alone (2,000 rows,
about 1 s, on the bundled graph in memory; fewer on a store on disk); the times are
reported. A greedy client does not wait when refused (``--honour-retry-after`` makes it
sleep for the Retry-After it was given). Meanwhile one polite client on 127.0.0.2 sends a
new cheap query (a describe of a different entity) every 50 ms, in two ways, one scenario
each:

* on schedule: whether or not the previous ones were answered (each on an idle connection
  of its pool, or a new one), latency counted from the planned time — a slow server piles
  its requests up, as it would a page's or a script's;
* one at a time: the next goes 50 ms after the last was sent or when its answer came,
  whichever is later (a person at a browser), latency counted from the send.

The polite client runs in a child process, so the greedy clients' event loop cannot delay
it. Every scenario has fresh clients (127.0.1.x for the second, 127.0.2.x for the third, …):
the server's fair share remembers a client's recent query time and refusals.

Reported per scenario: polite p50/p99 latency (of its 200s), its answers and refusals by
status, the greedy clients' status counts (200/429/503/other), and whether their 429s
carried Retry-After.

    python bench/fairness.py                  # the bundled graph (`spacecoop serve`)
    python bench/fairness.py --size 100000    # a synthetic store (bench/work/synthetic-N.nt)
    python bench/fairness.py --quick          # 10 s per scenario

Results go to stdout and to bench/results/fairness.{md,json}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from generate import write as generate
from loadgen import SAMPLE_BYTES, LoadResult, get_request, percentile_ms, read_response, run_load, run_sync
from newqueries import TextStream, describe_texts, read_graph
from run import free_port, ours_prepare, ours_start, stop, wait_ready, write_results

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PATH = "/sparql"
JSON_RESULTS = "application/sparql-results+json"
POLITE_INTERVAL = 0.05
POLITE_TIMEOUT = 30.0  # a polite request unanswered this long counts as a timeout
POLITE_MODES = ("on-schedule", "one-at-a-time")  # indexed by one_at_a_time
HEAVY_AIM = (0.3, 2.0)  # seconds the heavy query should take alone
CALIBRATION_START = 2000  # rows per side: about 1 s on the bundled graph, in memory
GREEDY_LEAD = 1.0  # greedy clients start this long before the polite one, and stop well after it


def polite_source(scenario: int) -> str:
    """The polite client's loopback address in a scenario: 127.0.0.2, then 127.0.1.2, …

    A fresh address per scenario: the fair share remembers a client's time and refusals
    (a 60 s window), which must not carry over from one scenario into the next.
    """
    return f"127.0.{scenario}.2"


def greedy_source(scenario: int, i: int) -> str:
    """The loopback address of greedy client ``i``: 127.0.0.10, .11, … (127.0.1.10, … next scenario)."""
    return f"127.0.{scenario}.{10 + i}"


def heavy_text(n: int, rows: int) -> str:
    """A heavy query, new for each ``n``: the FILTER's constant is part of the work, not a comment."""
    return (f"SELECT (COUNT(*) AS ?n) WHERE {{ {{ SELECT ?x WHERE {{ ?a ?p ?x }} LIMIT {rows} }} "
            f"{{ SELECT ?y WHERE {{ ?b ?q ?y }} LIMIT {rows} }} "
            f"FILTER(STRLEN(STR(?x)) + STRLEN(STR(?y)) != {n}) }}")


class HeavyRequests(Sequence[bytes]):
    """Endless heavy GETs with constants ``base``, ``base + 1``, …: one greedy client's stream."""

    def __init__(self, port: int, base: int, rows: int) -> None:
        self.port, self.base, self.rows = port, base, rows

    def __len__(self) -> int:
        return sys.maxsize

    def __getitem__(self, i):  # type: ignore[no-untyped-def]  # Sequence's overloads; ints only here
        text = heavy_text(self.base + i, self.rows)
        return get_request(HOST, self.port, f"{PATH}?query={quote(text, safe='')}", JSON_RESULTS)


# --- the polite client (a child process) -------------------------------------------------

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def polite_client(port: int, texts: Sequence[str], interval: float, source: str,
                        one_at_a_time: bool = False) -> list[dict[str, Any]]:
    """Send text k at start + k·interval, each on an idle pooled connection or a new one.

    ``one_at_a_time``: a client that waits for each answer — the next text goes ``interval``
    after the last was sent or when its answer came, whichever is later (no catching up), until
    the time the schedule would have ended; a slow server gets fewer requests.
    """
    pool: list[Connection] = []
    requests = [get_request(HOST, port, f"{PATH}?query={quote(t, safe='')}", JSON_RESULTS) for t in texts]
    start = time.perf_counter() + 0.05
    end = start + len(requests) * interval

    async def on_schedule(k: int) -> dict[str, Any]:
        scheduled = start + k * interval
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        # Latency from the planned time: a late start is the client's wait too.
        return await fetch(pool, port, source, requests[k], scheduled)

    outcomes: list[dict[str, Any]] = []
    if one_at_a_time:
        next_at = start
        for request in requests:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            if time.perf_counter() >= end:
                break
            sent_at = time.perf_counter()
            outcomes.append(await fetch(pool, port, source, request, sent_at))
            next_at = sent_at + interval
    else:
        outcomes = list(await asyncio.gather(*(on_schedule(k) for k in range(len(requests)))))
    for _, writer in pool:
        writer.close()
    return outcomes


async def fetch(pool: list[Connection], port: int, source: str, request: bytes, since: float) -> dict[str, Any]:
    """One request on an idle pooled connection or a new one; its outcome, with ms from ``since``.

    An idle connection the server has closed fails at once; the request is then sent again
    on a new one, as a browser does (it is a GET).
    """
    outcome = await exchange(pool.pop(), pool, port, source, request) if pool else None
    if outcome is None or outcome["status"] == "error":
        outcome = await exchange(None, pool, port, source, request)
    outcome["ms"] = 1000 * (time.perf_counter() - since)
    return outcome


async def exchange(conn: Connection | None, pool: list[Connection], port: int, source: str,
                   request: bytes) -> dict[str, Any]:
    """Send on ``conn`` (None: a new connection from ``source``) and read the answer; a
    connection still usable afterwards goes back to the pool."""
    try:
        if conn is None:
            conn = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
        conn[1].write(request)
        head, body = await asyncio.wait_for(read_response(conn[0]), POLITE_TIMEOUT)
    except TimeoutError:
        outcome: dict[str, Any] = {"status": "timeout"}
    except (OSError, asyncio.IncompleteReadError, ValueError) as err:
        outcome = {"status": "error", "body": f"{type(err).__name__}: {err}"[:SAMPLE_BYTES]}
    else:
        outcome = {"status": head.status, "retry_after": head.retry_after is not None}
        if head.status != 200:
            outcome["body"] = body[:SAMPLE_BYTES].decode("utf-8", "replace")
        if not head.close:
            pool.append(conn)
            return outcome
    if conn is not None:
        conn[1].close()
    return outcome


def summarise_polite(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [o["ms"] / 1000 for o in outcomes if o["status"] == 200]
    refused = Counter(str(o["status"]) for o in outcomes if o["status"] != 200)
    return {"sent": len(outcomes), "answered": len(ok), "refused": dict(sorted(refused.items())),
            "p50_ms": percentile_ms(ok, 0.5), "p99_ms": percentile_ms(ok, 0.99),
            "max_ms": round(max(o["ms"] for o in outcomes), 1) if outcomes else None,
            "refusals_with_retry_after": sum(1 for o in outcomes if o["status"] != 200 and o.get("retry_after")),
            "samples": {str(o["status"]): o["body"] for o in reversed(outcomes) if "body" in o}}


# --- the greedy clients and the scenario -------------------------------------------------

def summarise_greedy(results: list[LoadResult]) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    for r in results:
        statuses.update(r.statuses)
    per_client = sorted(r.statuses.get(200, 0) for r in results)
    samples = {str(k): v.decode("utf-8", "replace") for r in reversed(results) for k, v in r.samples.items()
               if k != 200}
    seconds = results[0].seconds if results else 1.0
    return {"clients": len(results), "sent": sum(r.sent for r in results),
            "200": statuses.get(200, 0), "429": statuses.get(429, 0), "503": statuses.get(503, 0),
            "other": {str(k): v for k, v in sorted(statuses.items()) if k not in (200, 429, 503)},
            "429_with_retry_after": sum(r.retry_after.get(429, 0) for r in results),
            "errors": sum(r.errors for r in results), "answers_per_s": round(statuses.get(200, 0) / seconds, 2),
            "200_per_client": {"min": per_client[0], "median": statistics.median(per_client),
                               "max": per_client[-1]} if per_client else None,
            "samples": dict(sorted(samples.items()))}


async def scenario(port: int, greedy: int, one_at_a_time: bool, polite_texts: list[str], seconds: float,
                   rows: int, index: int, honour_retry_after: bool) -> dict[str, Any]:
    """G greedy clients for ``seconds`` + 3·GREEDY_LEAD; the polite child starts GREEDY_LEAD in (its own
    start-up, about half a second, eats into the tail) and sends for ``seconds``."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"port": port, "texts": polite_texts, "interval": POLITE_INTERVAL, "source": polite_source(index),
                   "one_at_a_time": one_at_a_time}, f)
    greedy_runs = [run_load(HOST, port, HeavyRequests(port, (1000 * index + i + 1) * 1_000_000, rows), 1,
                            seconds + 3 * GREEDY_LEAD, greedy_source(index, i), honour_retry_after)
                   for i in range(greedy)]

    async def polite() -> dict[str, Any]:
        await asyncio.sleep(GREEDY_LEAD if greedy else 0)
        child = await asyncio.create_subprocess_exec(sys.executable, __file__, "--polite-client", f.name,
                                                     stdout=subprocess.PIPE)
        out, _ = await child.communicate()
        return summarise_polite(json.loads(out))

    try:
        *greedy_results, polite_result = await asyncio.gather(*greedy_runs, polite())
    finally:
        os.unlink(f.name)
    return {"greedy_clients": greedy, "polite_mode": POLITE_MODES[one_at_a_time], "polite": polite_result,
            "greedy": summarise_greedy(greedy_results)}


def settle(client: httpx.Client, url: str, budget: float = 20.0) -> float:
    """Wait until new cheap queries are answered fast again (the last scenario's queries are done)."""
    started = time.perf_counter()
    fast = 0
    n = 0
    while time.perf_counter() - started < budget and fast < 3:
        n += 1
        t0 = time.perf_counter()
        r = client.get(url, params={"query": f"ASK {{ <urn:settle:{time.time_ns()}:{n}> ?p ?o }}"})
        fast = fast + 1 if r.status_code == 200 and time.perf_counter() - t0 < 0.1 else 0
        time.sleep(0.2)
    return time.perf_counter() - started


def heavy_alone(url: str, rows: int, first: int, runs: int) -> list[float]:
    """Seconds each of a few new heavy texts takes with nothing else running (each sent from
    its own address, 127.1.0.N, so no fair-share budget is spent twice)."""
    times = []
    for i in range(first, first + runs):
        transport = httpx.HTTPTransport(local_address=f"127.1.{i // 250}.{1 + i % 250}")
        with httpx.Client(timeout=60, transport=transport) as client:
            t0 = time.perf_counter()
            r = client.get(url, params={"query": heavy_text(999_000_000 + i, rows)}, headers={"Accept": JSON_RESULTS})
            times.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise RuntimeError(f"the heavy query was answered {r.status_code}: {r.text[:200]}")
    return times


def calibrate(url: str, rows: int | None) -> tuple[int, list[float]]:
    """Rows per side that make the heavy query take 0.3–2 s alone (time grows as rows²), and
    three timings at that size. Given ``rows`` are used as they are."""
    if rows is None:
        rows = CALIBRATION_START
        for attempt in range(4):
            took = heavy_alone(url, rows, attempt, 1)[0]
            if HEAVY_AIM[0] <= took <= HEAVY_AIM[1]:
                break
            rows = max(50, round(rows * math.sqrt(1.0 / took)))  # aim at 1 s
    return rows, heavy_alone(url, rows, 10, 3)


# --- the server --------------------------------------------------------------------------

def start_server(size: int | None, work: Path) -> tuple[subprocess.Popen, int, list[str]]:
    """Our server on the bundled graph or a synthetic store; with the entities to describe."""
    port = free_port()
    if size is None:
        proc = subprocess.Popen([str(BIN / "spacecoop"), "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        return proc, port, []  # entities are asked of the server once it is up
    data = WORK / f"synthetic-{size}.nt"
    if not data.exists():
        generate(size, data)
    ours_prepare(data, work)
    return ours_start(data, work, port), port, read_graph(data).entities


def served_entities(client: httpx.Client, url: str) -> list[str]:
    r = client.get(url, params={"query": "SELECT DISTINCT ?s WHERE { ?s a ?c FILTER(isIRI(?s)) }"},
                   headers={"Accept": JSON_RESULTS})
    r.raise_for_status()
    return sorted(b["s"]["value"] for b in r.json()["results"]["bindings"])


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    work = WORK / "fairness"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    proc, port, entities = start_server(args.size, work)
    url = f"http://{HOST}:{port}{PATH}"
    out: dict[str, Any] = {"graph": f"synthetic {args.size:,} triples" if args.size else "bundled",
                           "load_average_before": os.getloadavg(),
                           "seconds": args.seconds,
                           "honour_retry_after": args.honour_retry_after}
    try:
        wait_ready(url, proc, timeout=900)
        with httpx.Client(timeout=60) as client:
            entities = entities or served_entities(client, url)
            rows, alone = calibrate(url, args.heavy_rows)
            out["heavy_rows"] = rows
            out["heavy_alone_s"] = [round(t, 3) for t in alone]
            out["heavy_example"] = heavy_text(1_000_001, rows)
            if not HEAVY_AIM[0] <= statistics.median(alone) <= HEAVY_AIM[1]:
                print(f"warning: the heavy query takes {statistics.median(alone):.2f} s alone (aim: 0.3–2 s); "
                      "see --heavy-rows", file=sys.stderr)
            texts = TextStream(describe_texts(entities, random.Random("fairness-polite")))
            per = int(args.seconds / POLITE_INTERVAL)
            out["scenarios"] = []
            runs = [(g, mode == "one-at-a-time") for g in args.greedy for mode in args.polite]
            for index, (greedy, one_at_a_time) in enumerate(runs):
                print(f"{greedy} greedy clients, polite {POLITE_MODES[one_at_a_time]} …", file=sys.stderr, flush=True)
                settled = settle(client, url)
                result = run_sync(scenario(port, greedy, one_at_a_time, texts.slice(index * per, per), args.seconds,
                                           rows, index, args.honour_retry_after))
                result["settle_s"] = round(settled, 2)
                out["scenarios"].append(result)
    finally:
        stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    out["load_average_after"] = os.getloadavg()
    return out


# --- the report --------------------------------------------------------------------------

def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def report(res: dict[str, Any]) -> str:
    alone = res["heavy_alone_s"]
    lines = ["# Fairness under greedy clients", "",
             f"Machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}. Graph: {res['graph']}. "
             f"Each scenario: {res['seconds']:g} s of polite requests (one every {1000 * POLITE_INTERVAL:.0f} ms, "
             f"a new describe each, from {polite_source(0)}); greedy clients from {greedy_source(0, 0)} on, one "
             "connection each (the next scenarios: 127.0.1.x, 127.0.2.x, …, fresh clients), "
             f"a new heavy query back to back{' (honouring Retry-After)' if res['honour_retry_after'] else ''}.",
             "", f"The heavy query alone: {', '.join(f'{t:.2f}' for t in alone)} s (median "
             f"{statistics.median(alone):.2f} s), e.g. `{res['heavy_example']}`.", "",
             "| greedy clients | polite mode | polite sent | polite 200 | polite refused | polite p50 ms | "
             "polite p99 ms | polite max ms | greedy 200 | greedy 429 | greedy 503 | greedy other | "
             "429s with Retry-After | greedy errors | greedy 200s per client (min/median/max) |",
             "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for s in res["scenarios"]:
        p, g = s["polite"], s["greedy"]
        refused = ", ".join(f"{k}: {v}" for k, v in p["refused"].items()) or "none"
        if p["refusals_with_retry_after"]:
            refused += f" ({p['refusals_with_retry_after']} with Retry-After)"
        other = ", ".join(f"{k}: {v}" for k, v in g["other"].items()) or "0"
        per = g["200_per_client"]
        per_text = f"{per['min']}/{per['median']:g}/{per['max']}" if per else "–"
        with_retry = f"{g['429_with_retry_after']}/{g['429']}" if g["429"] else "–"
        lines.append(f"| {s['greedy_clients']} | {s['polite_mode']} | {p['sent']} | {p['answered']} | {refused} | "
                     f"{fmt(p['p50_ms'])} | {fmt(p['p99_ms'])} | {fmt(p['max_ms'])} | {g['200']} | {g['429']} | "
                     f"{g['503']} | {other} | {with_retry} | {g['errors']} | {per_text} |")
    said = [f"- {s['greedy_clients']} greedy, polite {s['polite_mode']}: {who} {status}: `{' '.join(body.split())}`"
            for s in res["scenarios"] for who in ("polite", "greedy") for status, body in s[who]["samples"].items()]
    lines += ["", "What the refusals said (the first body of each status, cut):", "", *(said or ["- none"])]
    before, after = res["load_average_before"], res["load_average_after"]
    lines += ["", f"Machine load average (1 min) before the run {before[0]:.2f}, after {after[0]:.2f}: "
              "other work on the machine shares its cores with the server and the clients."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, help="a synthetic store of about this many triples (default: bundled graph)")
    ap.add_argument("--greedy", type=int, nargs="+", default=[0, 8, 32], help="greedy clients per scenario "
                    "(0: the polite client alone, the baseline)")
    ap.add_argument("--seconds", type=float, default=20.0, help="polite client's time per scenario")
    ap.add_argument("--heavy-rows", type=int, help="rows of each side of the heavy query's product "
                    "(default: found at start, so that it takes 0.3–2 s alone)")
    ap.add_argument("--polite", nargs="+", choices=POLITE_MODES, default=list(POLITE_MODES),
                    help="how the polite client sends: every 50 ms whatever happens, or waiting for each answer")
    ap.add_argument("--honour-retry-after", action="store_true", help="greedy clients wait as told when refused")
    ap.add_argument("--quick", action="store_true", help="10 s per scenario")
    ap.add_argument("--polite-client", metavar="CONFIG", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.polite_client:
        config = json.loads(Path(args.polite_client).read_text())
        outcomes = run_sync(polite_client(config["port"], config["texts"], config["interval"], config["source"],
                                          config["one_at_a_time"]))
        print(json.dumps(outcomes))
        return
    if args.quick:
        args.seconds = 10.0
    os.environ.setdefault("BENCH_QUERY_TIMEOUT", "10")  # a synthetic store gets serve's default time limit
    res = run_all(args)
    write_results("fairness", res, report(res))


if __name__ == "__main__":
    main()
