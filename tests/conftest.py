"""Shared fixtures: the loaded graph, a local engine, and a real uvicorn server.

The server fixture starts ``python -m spacecoop serve`` as a subprocess on a free
loopback port, exactly as a user would, and waits until it answers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from spacecoop import config
from spacecoop.engine.store import Engine
from spacecoop.rdf.loader import load_dataset

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
# Debian's chromium, never a downloaded browser; the flags keep it off the (closed) network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


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
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited early:\n{self.log.read()}")
            try:
                if httpx.get(self.url + "/sparql", params={"query": "ASK {}"}, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in time")

    def dumps_ready(self, timeout: float = 180) -> None:
        """Wait, as a client honouring ``Retry-After`` would, until the dumps are built
        (they are built in the background after start: until then ``/dumps/`` answers 202)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = httpx.get(self.url + "/dumps/", headers={"Accept": "application/json"}, timeout=10)
            if r.status_code != 202:
                return
            time.sleep(0.2)
        raise RuntimeError("the dumps were not built in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    """The default server (bundled graph, default store), shared by the whole session."""
    srv = LiveServer()
    srv.dumps_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def base_url(server: LiveServer) -> str:
    return server.url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


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
