"""Shared fixtures: the loaded graph, a local engine, the app in this process, and a real server.

``client`` and ``base_url`` are the app as ``spacecoop serve`` runs it (``asgi_app``: the
SPARQL front door, the response cache, the middleware, real query worker processes),
started with its lifespan in this process and reached without a socket: the protocol,
API, page and linked-data tests use it. ``server`` (and ``live_url``) starts
``python -m spacecoop serve`` as a subprocess on a free loopback port, exactly as a user
would, for the tests where the process matters (isolation, time limits, safety, start-up,
what uvicorn or a socket adds, consumers that need a URL, the real browser). Every test
that starts or uses a live server is marked ``live`` (browser tests also ``browser``), so
that ``pytest -m "not live"`` starts none: a live server started from a test without the
mark is an error, and so is a test taking a live or browser fixture without it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from spacecoop import config
from spacecoop.engine.store import Engine
from spacecoop.linked import dump_files, search_service
from spacecoop.rdf.loader import load_dataset
from spacecoop.web.app import asgi_app

from ._processes import descendants, nice_of

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
# Debian's chromium, never a downloaded browser; the flags keep it off the (closed) network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


# The origin of the in-process app: TestClient's own, given to the app as its public URL
# (as ``spacecoop serve`` gives its listening address), so links and contexts name it.
IN_PROCESS_URL = "http://testserver"
# Fixtures that start or share a live server, and the marks a test taking them must carry.
LIVE_FIXTURES = frozenset({"server", "live_url", "rebased_server"})
MARKED_FIXTURES = {"live": LIVE_FIXTURES, "browser": frozenset({"browser"})}
# How often a starting server or its dump builder is asked whether it is ready (seconds).
POLL = 0.05
# The test being run (set by ``pytest_runtest_protocol``): a LiveServer checks its mark.
RUNNING: list[pytest.Item] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A running ``spacecoop serve`` process."""

    def __init__(self, *extra: str, env: dict[str, str] | None = None,
                 preexec: Callable[[], None] | None = None, port: int | None = None) -> None:
        """``preexec`` runs in the child before ``exec`` (e.g. to lower a resource limit);
        ``port``: one chosen beforehand (a base IRI that names the server's own address)."""
        refuse_unmarked_live_server()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(ROOT / "tests" / f".server-{self.port}.log", "w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spacecoop", "serve", "--port", str(self.port), *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            preexec_fn=preexec,  # None: as before; tests start servers from one thread (preexec_fn is not thread-safe)
        )
        self._wait()

    def _wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    self.log.seek(0)
                    raise RuntimeError(f"server exited early:\n{self.log.read()}")
                try:
                    if client.get("/sparql", params={"query": "ASK {}"}).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(POLL)
        self.stop()
        raise RuntimeError("server did not start in time")

    def dumps_ready(self, timeout: float = 180) -> None:
        """Wait, as a client honouring ``Retry-After`` would, until the dumps are built
        (they are built in the background after start: until then ``/dumps/`` answers 202)."""
        with httpx.Client(base_url=self.url, timeout=10) as client:
            dumps_ready(client, timeout)

    def settled(self, timeout: float = 180) -> None:
        """Wait until the dumps are built and their builder (at nice BUILDER_NICE) has exited:
        the processes left below the server are then the forkserver and the query workers."""
        self.dumps_ready(timeout)
        deadline = time.monotonic() + timeout
        while any(nice_of(p) == dump_files.BUILDER_NICE for p in descendants(self.process.pid)):
            assert time.monotonic() < deadline, "the dumps' builder did not exit"
            time.sleep(POLL)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def refuse_unmarked_live_server() -> None:
    """Fail a test that starts a live server without the ``live`` mark (``-m "not live"`` must start none)."""
    if RUNNING and RUNNING[-1].get_closest_marker("live") is None:
        raise RuntimeError(f"{RUNNING[-1].nodeid} starts a live server: mark it @pytest.mark.live")


def dumps_ready(client: httpx.Client, timeout: float = 180) -> None:
    """Wait, as a client honouring ``Retry-After`` would, until the dumps are built
    (they are built in the background after start: until then ``/dumps/`` answers 202)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/dumps/", headers={"Accept": "application/json"}).status_code != 202:
            return
        time.sleep(POLL)
    raise RuntimeError("the dumps were not built in time")


@contextlib.contextmanager
def in_process(settings: config.Settings | None = None) -> Iterator[TestClient]:
    """The app as ``spacecoop serve`` runs it (``asgi_app``, worker processes and all), its
    lifespan run in this process, behind a synchronous client with no socket.

    What ``serve`` adds around the app is not here: uvicorn and its headers, the HTTP
    limits, the access log, a base path; redirects are not followed and a server error
    is a 500, as a client of the live server sees them.
    """
    settings = settings or config.Settings()
    if not settings.public_url:  # as `spacecoop serve` names its own address
        settings = settings.with_(public_url=IN_PROCESS_URL)
    with TestClient(asgi_app(settings), base_url=IN_PROCESS_URL, follow_redirects=False,
                    raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def app() -> Iterator[TestClient]:
    """The default app (bundled graph, default store) in this process, dumps built, for the whole session."""
    with in_process() as client:
        dumps_ready(client)
        yield client


@pytest.fixture(scope="session")
def base_url(app: TestClient) -> str:
    """The in-process app's origin (what its links, VoID and JSON-LD contexts name)."""
    return str(app.base_url).rstrip("/")


@pytest.fixture
def client(app: TestClient) -> TestClient:
    """A client of the in-process app (the session's one: cookies cleared, nothing else is kept)."""
    app.cookies.clear()
    return app


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    """The default live server (bundled graph, default store), shared by the whole session."""
    srv = LiveServer()
    srv.dumps_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def live_url(server: LiveServer) -> str:
    """The default live server's origin, on a real loopback port."""
    return server.url


@pytest.fixture(scope="session")
def rebased_server() -> Iterator[LiveServer]:
    """A live server rebased to https://kg.example.org/ (``SPACECOOP_BASE`` as people write it,
    without the slash), dumps built, shared by the session."""
    srv = LiveServer("--workers", "2", env={"SPACECOOP_BASE": "https://kg.example.org"})
    srv.dumps_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def dataset():  # type: ignore[no-untyped-def]
    """The bundled graph as an rdflib Dataset, from the one loader."""
    return load_dataset()


@pytest.fixture(scope="session")
def union(dataset):  # type: ignore[no-untyped-def]
    """Every triple of the bundled graph, named graphs merged (what the dumps must hold)."""
    from rdflib import Graph

    g = Graph()
    for s, p, o, _ in dataset.quads((None, None, None, None)):
        g.add((s, p, o))
    return g


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """An in-process engine over the bundled graph (no worker pool, no time limit)."""
    eng = Engine(config.Settings())
    eng.start_local()
    search_service.attach(eng)  # the label index's SERVICE, as a server has it (find-by-label)
    yield eng
    eng.close()


def chromium_missing() -> str | None:
    """Why the real-browser tests cannot run on this machine (None: they can)."""
    # A regular executable file: ../shared/tools/fresh-machine binds /dev/null over it.
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"Debian chromium is not installed ({CHROMIUM}; apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    return None


# The files that take longest, run first: with the files shared between test processes
# (make test), a long one picked up last would keep one process busy after the others are done.
LONGEST_FIRST = ("test_load_faults.py", "test_validate.py", "test_fair_share.py", "test_jsonld.py",
                 "test_jsonld_stream.py", "test_sparql_safety.py", "test_small_faults.py", "test_worker_faults.py",
                 "test_http_limits.py", "test_isolation.py", "test_dumps_void.py", "test_store.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test taking a live-server or browser fixture must carry the mark that says so;
    the longest files first (``LONGEST_FIRST``), the rest in their order."""
    for item in items:
        taken = set(getattr(item, "fixturenames", ()))
        for mark, fixtures in MARKED_FIXTURES.items():
            if taken & fixtures and item.get_closest_marker(mark) is None:
                raise pytest.UsageError(f"{item.nodeid} takes {sorted(taken & fixtures)}: mark it @pytest.mark.{mark}")
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order kept within a file


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Remember the test being run (its fixtures are set up and torn down meanwhile)."""
    RUNNING.append(item)
    try:
        return (yield)
    finally:
        RUNNING.remove(item)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Real-browser tests: skipped without chromium (one line in the summary), failed under CI."""
    if "browser" not in getattr(item, "fixturenames", ()):
        return
    reason = chromium_missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason}: under CI the real-browser tests must run (.ci/run installs chromium)", pytrace=False)
    # Skipped here, not in the fixture, so pytest folds every such skip into one summary line.
    pytest.skip(f"real-browser tests: {reason}")


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """A headless Chromium driven by Playwright (``pytest_runtest_setup`` skips the tests without it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
