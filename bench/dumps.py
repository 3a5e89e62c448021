"""The dumps and VoID under load: built outside the server process, linear in the graph.

For each size (a synthetic graph from ``generate.py``) it starts ``spacecoop serve --data
FILE`` (the embedded Oxigraph store, whose dumps the background builder makes after
start) and, while a client asks a cheap query ten times a second, measures:

* how soon the first ``/.well-known/void`` and ``/dumps/spacecoop.jsonld`` answer (202
  while building: the server never waits) and when each answers 200 (seconds after the
  server first answered a query);
* the cheap query's latency p50/p99 over the whole build, and the builder's peak RSS;
* ``spacecoop load`` with its dumps into a stamped store (seconds for the quads, for the
  dumps), and how soon ``serve --store oxigraph:PATH`` has every dump (at once: they are
  in the store's folder).

    python bench/dumps.py                 # 10k, 100k, 1M
    python bench/dumps.py --sizes 10000   # a smoke run

Results go to stdout and bench/results/dumps.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RESULTS = HERE / "results"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))
from generate import write as generate  # noqa: E402
from run import free_port, stop, tree_pss_mb  # noqa: E402
from spacecoop.linked import dump_files  # noqa: E402

CHEAP = "SELECT ?p ?o WHERE { <https://spacecoop.example/resource/mission-3> ?p ?o }"
WATCHED = ["spacecoop.nt", "spacecoop.ttl", "spacecoop.nq", "spacecoop.jsonld", "spacecoop-mission.jsonld"]


class CheapQueries(threading.Thread):
    """A client asking the cheap query every 100 ms, recording each latency."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.latencies, self.failures = url, [], 0
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as c:
            while not self.stopping.is_set():
                started = time.perf_counter()
                r = c.get(self.url + "/sparql", params={"query": CHEAP}, headers={"Cache-Control": "no-cache"})
                self.latencies.append(time.perf_counter() - started)
                self.failures += r.status_code != 200
                self.stopping.wait(0.1)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            if httpx.get(url + "/sparql", params={"query": "ASK {}"}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the server did not start")


def builder_rss_mb(pid: int) -> float:
    """The dump builder's RSS now (0 once it has finished)."""
    for child in _descendants(pid):
        try:
            if os.getpriority(os.PRIO_PROCESS, child) == dump_files.BUILDER_NICE:
                status = Path(f"/proc/{child}/status").read_text()
                return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024
        except (OSError, StopIteration):
            continue
    return 0.0


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found += [int(c) for c in children]
        frontier += [int(c) for c in children]
    return found


def watch_build(url: str, pid: int, timeout: float) -> dict:
    """Poll every dump and VoID until each answers 200 (or ``timeout``)."""
    started = time.perf_counter()
    first: dict[str, tuple[int, float]] = {}
    ready: dict[str, float] = {}
    peak = 0.0
    with httpx.Client(base_url=url, timeout=30) as c:
        while time.perf_counter() - started < timeout and len(ready) < len(WATCHED) + 1:
            for name in ["void", *WATCHED]:
                if name in ready:
                    continue
                path = "/.well-known/void" if name == "void" else f"/dumps/{name}"
                t = time.perf_counter()
                r = c.head(path) if name != "void" else c.get(path, headers={"Accept": "text/turtle"})
                first.setdefault(name, (r.status_code, (time.perf_counter() - t) * 1000))
                if r.status_code == 200:
                    ready[name] = time.perf_counter() - started
            peak = max(peak, builder_rss_mb(pid))
            time.sleep(0.25)
    return {"first": first, "ready": ready, "builder_rss_mb": peak}


def serve_embedded(data: Path, timeout: float) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "spacecoop"), "serve", "--port", str(port), "--data", str(data), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(url, proc)
        start_s = time.perf_counter() - started
        cheap = CheapQueries(url)
        cheap.start()
        watched = watch_build(url, proc.pid, timeout)
        cheap.stopping.set()
        cheap.join()
        pss = tree_pss_mb(proc.pid)
    finally:
        stop(proc)
    return {"start_s": start_s, **watched, "p50": cheap.percentile(0.5), "p99": cheap.percentile(0.99),
            "cheap_n": len(cheap.latencies), "cheap_failures": cheap.failures, "server_pss_mb": pss}


def load_stamped(data: Path, work: Path) -> dict:
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SPACECOOP_PUBLIC_URL": url}  # as deployed: load for the address it is served at
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "spacecoop"), "load", str(data), "--store", f"oxigraph:{store}"],
                          capture_output=True, text=True, env=env)
    total = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    said = done.stdout.split("dumps and statistics built in ")
    dumps_s = float(said[1].split()[0]) if len(said) > 1 else float("nan")
    proc = subprocess.Popen([str(BIN / "spacecoop"), "serve", "--port", str(port), "--store", f"oxigraph:{store}",
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=env)
    try:
        wait_ready(url, proc)
        t = time.perf_counter()
        statuses = [httpx.head(f"{url}/dumps/{n}", timeout=30).status_code for n in WATCHED]
        void = httpx.get(f"{url}/.well-known/void", timeout=30).status_code
        at_once = time.perf_counter() - t
    finally:
        stop(proc)
    shutil.rmtree(store, ignore_errors=True)
    return {"load_s": total, "dumps_s": dumps_s, "all_200": all(s == 200 for s in statuses) and void == 200,
            "answered_ms": at_once * 1000}


def report(rows: list[tuple[int, dict, dict]]) -> str:
    out = ["| triples | VoID first answer | JSON-LD first answer | VoID 200 after | nt / ttl / nq 200 after | "
           "JSON-LD 200 after | framed (mission) 200 after | cheap query p50 / p99 meanwhile | builder peak RSS | "
           "`load` with dumps (of which dumps) | stamped store: every dump 200 |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]

    def first(s: dict, n: str) -> str:
        code, ms = s["first"].get(n, (0, float("nan")))
        return f"{code} in {ms:.0f} ms"

    def after(s: dict, n: str) -> str:
        return f"{s['ready'][n]:.1f} s" if n in s["ready"] else "not yet"

    for size, s, st in rows:
        three = " / ".join(after(s, n) for n in ("spacecoop.nt", "spacecoop.ttl", "spacecoop.nq"))
        out.append(f"| {size:,} | {first(s, 'void')} | {first(s, 'spacecoop.jsonld')} | {after(s, 'void')} | {three} | "
                   f"{after(s, 'spacecoop.jsonld')} | {after(s, 'spacecoop-mission.jsonld')} | "
                   f"{s['p50']:.1f} / {s['p99']:.1f} ms ({s['cheap_n']} queries, {s['cheap_failures']} failed) | "
                   f"{s['builder_rss_mb']:.0f} MB | {st['load_s']:.1f} s ({st['dumps_s']:.1f} s) | "
                   f"{'yes' if st['all_200'] else 'NO'}, in {st['answered_ms']:.0f} ms |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for every dump")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        data = WORK / f"synthetic-{size}.nt"
        if not data.exists():
            generate(size, data)
        served = serve_embedded(data, args.timeout)
        stamped = load_stamped(data, WORK)
        rows.append((size, served, stamped))
        print(report(rows[-1:]), flush=True)
    text = report(rows)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dumps.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
