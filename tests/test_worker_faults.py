"""Faults in the worker processes, injected into a real server: a stopped forkserver, a worker
killed under a query, every worker killed at once.

The workers are children of multiprocessing's forkserver, itself a child of the server
(the one whose command line runs ``multiprocessing.forkserver``). Cheap requests here are
answered without a worker (a cached ``ASK {}``, a static file): they need only the event
loop, so they show whether anything blocks it. Their time bound is a liveness bound (a
frozen loop never answers), not a latency target.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from spacecoop import config

from .conftest import LiveServer

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the processes through /proc")]

SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
WORKERS = config.Settings().workers + config.Settings().reserve_workers  # the pool: general and reserve
ALIVE = 2.0  # seconds a cheap request may take before the server counts as frozen
CHEAP = (("/sparql", {"query": "ASK {}"}), ("/static/site.css", {}))


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def children(pid: int) -> list[int]:
    """The live direct children of ``pid``."""
    stats = {int(e): _stat(int(e)) for e in os.listdir("/proc") if e.isdigit()}
    return [p for p, fields in stats.items() if fields is not None and int(fields[1]) == pid and fields[0] != "Z"]


def forkserver(srv: LiveServer) -> int | None:
    for pid in children(srv.process.pid):
        try:
            if b"multiprocessing.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def workers(srv: LiveServer, n: int = WORKERS, timeout: float = 30) -> list[int]:
    """The forkserver's children, once there are ``n`` (the dumps' builder, also forked
    there, has finished by then)."""
    deadline = time.monotonic() + timeout
    found: list[int] = []
    while time.monotonic() < deadline:
        fs = forkserver(srv)
        found = children(fs) if fs else []
        if len(found) == n:
            return found
        time.sleep(0.1)
    raise AssertionError(f"the forkserver has {found} as children, not {n} workers")


def cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0


def log_size(srv: LiveServer) -> int:
    return len(Path(srv.log.name).read_text())


def events_since(srv: LiveServer, offset: int) -> list[str]:
    """The server's own messages from ``offset`` on, without the access log."""
    lines = Path(srv.log.name).read_text()[offset:].splitlines()
    return [line for line in lines if not line.startswith(("GET ", "POST ", "HEAD "))]


def assert_clean(lines: list[str]) -> None:
    text = "\n".join(lines)
    for bad in ("Traceback", "never retrieved", "Task exception"):
        assert bad not in text, text


def statuses(srv: LiveServer, tag: str, n: int = 10) -> list[int]:
    """Statuses of ``n`` distinct queries (none cached, none answered without a worker)."""
    queries = [f"SELECT ?s WHERE {{ ?s a ?t FILTER(?t != <urn:{tag}:{i}>) }} LIMIT 2 OFFSET {i}" for i in range(n)]
    with httpx.Client(timeout=30) as c:
        return [c.get(srv.url + "/sparql", params={"query": q}).status_code for q in queries]


class SlowQuery(threading.Thread):
    """One slow query, in the background; ``response`` once answered."""

    def __init__(self, srv: LiveServer) -> None:
        super().__init__(daemon=True)
        self.url = srv.url + "/sparql"
        self.response: httpx.Response | None = None
        self.start()

    def run(self) -> None:
        self.response = httpx.get(self.url, params={"query": f"{SLOW} # {time.monotonic()}"}, timeout=60)


def busy_worker(srv: LiveServer) -> int:
    """The worker using a CPU (the one evaluating the slow query)."""
    pids = workers(srv)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        before = {p: cpu_ticks(p) for p in pids}
        time.sleep(0.3)
        used = {p: cpu_ticks(p) - before[p] for p in pids}
        pid = max(used, key=lambda p: used[p])
        if used[pid] >= 0.1 * os.sysconf("SC_CLK_TCK"):
            return pid
    raise AssertionError("no worker is evaluating the slow query")


# ===================================================================================
# A hung forkserver
# ===================================================================================
def test_a_stopped_forkserver_freezes_nothing_and_is_replaced() -> None:
    srv = LiveServer("--timeout", "2")
    fs = forkserver(srv)
    try:
        assert fs is not None
        first = workers(srv)
        start = log_size(srv)
        latencies: list[float] = []
        replaced_after = None
        with httpx.Client(base_url=srv.url, timeout=ALIVE) as c:
            for path, params in CHEAP:  # cached from now on
                assert c.get(path, params=params).status_code == 200
            os.kill(fs, signal.SIGSTOP)
            began = time.monotonic()
            slow = SlowQuery(srv)  # stopped at 2 s: its worker is killed, a new one asked of the forkserver
            while time.monotonic() - began < 40:
                for path, params in CHEAP:
                    t = time.perf_counter()
                    try:
                        status = c.get(path, params=params).status_code
                    except httpx.TimeoutException:
                        pytest.fail(f"{path} got no answer within {ALIVE} s, "
                                    f"{time.monotonic() - began:.1f} s after the forkserver was stopped")
                    latencies.append(time.perf_counter() - t)
                    assert status == 200
                now = forkserver(srv)
                if now not in (None, fs) and not alive(fs) and children(now or 0):
                    replaced_after = time.monotonic() - began  # and it has forked the replacement
                    break
                time.sleep(0.05)
        slow.join(30)
        print(f"forkserver stopped: {len(latencies)} cheap requests meanwhile, longest "
              f"{max(latencies) * 1000:.0f} ms; a new forkserver had forked a worker {replaced_after} s after the stop")
        assert slow.response is not None and slow.response.status_code == 503
        assert "timed out" in slow.response.json()["message"]
        assert replaced_after is not None, "the stopped forkserver was never replaced"
        # The server goes on: queries answer; the timed-out query's worker was stopped and the
        # others, forked by the old forkserver, still serve beside the new one's.
        assert statuses(srv, "after-stop") == [200] * 10
        new = forkserver(srv) or 0
        serving = {p for p in first if alive(p)} | set(children(new))
        assert len(set(first) - serving) == 1 and len(serving) == WORKERS, (first, serving)
        # A query past its time limit still has its worker killed, whichever forkserver forked it.
        r = httpx.get(srv.url + "/sparql", params={"query": SLOW + " # again"}, timeout=30)
        assert r.status_code == 503 and "timed out" in r.json()["message"]
        time.sleep(1.0)
        assert len([p for p in serving if not alive(p)]) == 1
        assert len({p for p in first if alive(p)} | set(children(new))) == WORKERS
        lines = events_since(srv, start)
        assert sum("forkserver" in line for line in lines) == 1, lines
        assert_clean(lines)
    finally:
        if fs is not None and alive(fs):
            os.kill(fs, signal.SIGCONT)
        srv.stop()


# ===================================================================================
# Workers killed from outside
# ===================================================================================
@pytest.fixture(scope="module")
def patient() -> Iterator[LiveServer]:
    """A server whose time limit outlasts the slow query's kill."""
    srv = LiveServer("--timeout", "30")
    yield srv
    srv.stop()


def test_a_worker_killed_under_a_query_gives_503_and_one_log_line(patient: LiveServer) -> None:
    workers(patient)
    start = log_size(patient)
    slow = SlowQuery(patient)
    victim = busy_worker(patient)
    os.kill(victim, signal.SIGKILL)
    slow.join(10)
    r = slow.response
    assert r is not None and r.status_code == 503, r
    assert r.json()["message"] == "the query's worker stopped; try again"
    assert r.headers["Retry-After"] == "1"
    assert statuses(patient, "after-kill") == [200] * 10
    assert victim not in workers(patient)
    lines = events_since(patient, start)
    assert [line for line in lines if "worker" in line] == [
        "a query worker stopped during a query (exit status -9); replacing it"], lines
    assert_clean(lines)


def test_every_worker_killed_at_once_is_replaced(patient: LiveServer) -> None:
    before = workers(patient)
    start = log_size(patient)
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    status = 0
    while time.monotonic() < deadline and status != 200:
        status = statuses(patient, f"probe-{time.monotonic()}", n=1)[0]
    assert status == 200, "no query answered after every worker was killed"
    assert statuses(patient, "after-massacre") == [200] * 10
    assert not set(before) & set(workers(patient))
    lines = events_since(patient, start)
    # One line per worker: "stopped", or for one killed while it was still booting (a busy
    # machine), "did not start" with the retry.
    assert sum("query worker stopped" in line or "did not start" in line for line in lines) == WORKERS, lines
    assert_clean(lines)
