"""``spacecoop load`` is complete or nothing, and only a complete store is ever served.

Real loads in real processes, stopped by real signals (``kill -9`` at several points,
SIGTERM, SIGINT), a real full disk (a small tmpfs) and a really read-only folder (the same
tmpfs remounted read-only: root ignores file modes); the swap itself is failed step by step
in-process. After every fault PATH holds the previous complete store or none, and the
engine serves that or refuses in one line — never a part of a store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pyoxigraph as ox
import pytest

from spacecoop import config
from spacecoop.engine import store_folder
from spacecoop.engine.store import Engine, Job
from spacecoop.engine.store_folder import STORE_STAMP, Build, StoreRefused, open_complete, store_facts
from spacecoop.linked import dump_files
from spacecoop.rdf.loader import Source, fingerprint, load_oxigraph

from .conftest import ROOT, free_port

SPACECOOP = str(Path(sys.executable).with_name("spacecoop"))
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
BIG_TRIPLES = 300_000  # ~47 MB of N-Triples: a load of a few seconds, streamed in one piece


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.nt"
    subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), str(BIG_TRIPLES), "-o", str(path)],
                   check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def big_load(big: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, int]:
    """The big file's quad count and the size of its store without its dumps (to kill a
    load part-way through its quads; the dumps come after, and have a kill point of their own)."""
    store = tmp_path_factory.mktemp("whole") / "store"
    done = load(big, store=store, options=("--no-dumps",))
    assert done.returncode == 0, done.stderr
    return orjson.loads((store / STORE_STAMP).read_bytes())["triples"], folder_bytes(store)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def previous(tmp_path: Path) -> Path:
    """PATH holding a complete store of the bundled graph: what a failed load must leave."""
    path = tmp_path / "kg"
    done = load(store=path)
    assert done.returncode == 0, done.stderr
    return path


def load(*files: Path, store: Path, options: tuple[str, ...] = (), **popen: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SPACECOOP, "load", *map(str, files), "--store", f"oxigraph:{store}", *options],
                          capture_output=True, text=True, timeout=300, **popen)  # type: ignore[call-overload]


def start_load(*files: Path, store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([SPACECOOP, "load", *map(str, files), "--store", f"oxigraph:{store}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leftovers(path: Path) -> list[str]:
    """What loads left beside PATH (``PATH.partial-…``, ``PATH.old-…``)."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "."))


def served_count(path: Path) -> int:
    """COUNT(*) as the engine answers it for ``--store oxigraph:PATH`` (StoreRefused if it refuses)."""
    engine = Engine(config.Settings(store=f"oxigraph:{path}"))
    try:
        engine.start_local()
        body = orjson.loads(engine.run_sync(Job(COUNT)).body)
        return int(body["results"]["bindings"][0]["n"]["value"])
    finally:
        engine.close()


def stamp_of(path: Path) -> dict[str, object]:
    return dict(orjson.loads((path / STORE_STAMP).read_bytes()))


def assert_one_line(stderr: str, *words: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    for word in words:
        assert word in stderr, stderr


def wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- kill -9 at several points ------------------------------------------------------
def partial(path: Path) -> Path | None:
    return next((path.parent / name for name in leftovers(path) if ".partial-" in name), None)


def partial_exists(path: Path) -> bool:
    return partial(path) is not None


def written(path: Path) -> int:
    """Bytes the load building beside ``path`` has written so far (0: no folder yet)."""
    folder = partial(path)
    with contextlib.suppress(OSError):  # files come and go as RocksDB writes them
        return folder_bytes(folder) if folder else 0
    return 0


def building_dumps(path: Path) -> bool:
    folder = partial(path)
    return folder is not None and (folder / dump_files.FOLDER).is_dir()


# When to kill: by the clock (whatever the load is doing then), by how much of the new
# store's quads is on disk (the same point on a slow or a busy machine), or once its dumps
# are being built (after the quads, before the stamp).
KILL_POINTS = {"0.2 s": 0.2, "1 s": 1.0, "once building": 0.0, "a quarter written": 0.25, "most written": 0.6,
               "building its dumps": -1.0}


@pytest.mark.parametrize("when", list(KILL_POINTS))
def test_a_load_killed_leaves_the_previous_store_served(big: Path, big_load: tuple[int, int], previous: Path,
                                                        when: str) -> None:
    before = stamp_of(previous)
    proc = start_load(big, store=previous)
    try:
        if when.endswith(" s"):
            time.sleep(KILL_POINTS[when])
        elif KILL_POINTS[when] < 0:
            wait_for(lambda: building_dumps(previous), timeout=120)
        else:
            wait_for(lambda: partial_exists(previous) and written(previous) >= KILL_POINTS[when] * big_load[1])
        assert proc.poll() is None, "the load finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert stamp_of(previous) == before, "PATH still holds the previous store, stamp and all"
    assert served_count(previous) == before["triples"]
    for name in leftovers(previous):  # what the killed load left is no store of ours
        with pytest.raises(StoreRefused, match="has no stamp"):
            served_count(previous.parent / name)


def test_a_first_load_killed_leaves_no_store_and_serve_refuses(big: Path, tmp_path: Path) -> None:
    path = tmp_path / "kg"
    proc = start_load(big, store=path)
    wait_for(lambda: partial_exists(path))
    time.sleep(0.5)
    proc.kill()
    proc.wait(30)
    assert not path.exists()
    done = subprocess.run([SPACECOOP, "serve", "--port", str(free_port()), "--store", f"oxigraph:{path}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert_one_line(done.stderr, f"spacecoop serve: no Oxigraph store at {path}", "spacecoop load")


def test_the_next_load_clears_what_a_killed_load_left(big: Path, big_load: tuple[int, int],
                                                      previous: Path) -> None:
    proc = start_load(big, store=previous)
    wait_for(lambda: partial_exists(previous))
    proc.kill()
    proc.wait(30)
    assert leftovers(previous), "kill -9 leaves the new folder behind"
    # The next load clears them as it starts (store_folder.tidy); building the dumps, nine
    # tenths of a load of this file, plays no part in that, so this one skips it.
    done = load(big, store=previous, options=("--no-dumps",))
    assert done.returncode == 0, done.stderr
    assert "triples/s" in done.stdout
    assert leftovers(previous) == []
    assert served_count(previous) == big_load[0] == stamp_of(previous)["triples"]


# --- signals a load can catch ----------------------------------------------------------
@pytest.mark.parametrize("sig,code,words", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                            (signal.SIGINT, 130, "interrupted")])
def test_sigterm_and_ctrl_c_stop_the_load_and_remove_its_folder(big: Path, previous: Path, sig: int, code: int,
                                                                words: str) -> None:
    before = stamp_of(previous)
    proc = start_load(big, store=previous)
    wait_for(lambda: partial_exists(previous))
    time.sleep(0.3)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert_one_line(stderr, words, f"the previous store at {previous} is unchanged")
    assert leftovers(previous) == []
    assert stamp_of(previous) == before and served_count(previous) == before["triples"]


# --- full disk, read-only folder ---------------------------------------------------------
@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "20m") -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_full_disk_gives_one_line_and_keeps_the_previous_store(big: Path, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small") as disk:
        path = disk / "kg"
        assert load(store=path).returncode == 0
        before = stamp_of(path)
        done = load(big, store=path)
        assert done.returncode == 1
        assert_one_line(done.stderr, f"spacecoop load: disk full while writing {path}",
                        f"the previous store at {path} is unchanged")
        assert leftovers(path) == [], "the partial folder is removed (its space given back)"
        assert stamp_of(path) == before and served_count(path) == before["triples"]
        free = shutil.disk_usage(disk).free
        assert free > 15 << 20, f"only {free} bytes free after the failed load"


def test_a_read_only_folder_gives_one_line_and_keeps_the_previous_store(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "ro") as disk:
        path = disk / "kg"
        assert load(store=path).returncode == 0
        before = stamp_of(path)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        done = load(store=path)
        assert done.returncode == 1
        assert_one_line(done.stderr, f"spacecoop load: cannot write in {disk} (read-only or no permission)",
                        f"the previous store at {path} is unchanged")
        assert stamp_of(path) == before and served_count(path) == before["triples"]


# --- what load refuses to replace, or cannot read ------------------------------------------
def test_load_never_replaces_a_folder_that_is_not_its_store(tmp_path: Path) -> None:
    path = tmp_path / "photos"
    path.mkdir()
    (path / "holiday.jpg").write_bytes(b"not a store")
    done = load(store=path)
    assert done.returncode == 1
    assert_one_line(done.stderr, f"{path} holds files but no {STORE_STAMP}", "not replacing it")
    assert [p.name for p in path.iterdir()] == ["holiday.jpg"] and leftovers(path) == []


@pytest.mark.parametrize("case,words", [("file", "is a file, not a store folder"),
                                        ("no parent", "create it first")])
def test_load_refuses_a_path_it_cannot_build_at(tmp_path: Path, case: str, words: str) -> None:
    path = tmp_path / "kg" if case == "file" else tmp_path / "missing" / "kg"
    if case == "file":
        path.write_text("keep me")
    done = load(store=path)
    assert done.returncode == 1
    assert_one_line(done.stderr, "spacecoop load: ", words)
    assert case != "file" or path.read_text() == "keep me"


def test_a_bad_file_changes_nothing(previous: Path, tmp_path: Path) -> None:
    before = stamp_of(previous)
    bad = tmp_path / "bad.nt"
    bad.write_text("<http://ex/a> <http://ex/b> \"fine\" .\n" * 1000 + "<http://ex/a> <http://ex/b> \"open .\n")
    done = load(bad, store=previous)
    assert done.returncode == 1
    assert_one_line(done.stderr, f"{bad}:1001:", f"nothing was changed at {previous}")
    assert stamp_of(previous) == before and leftovers(previous) == []


# --- serve and query refuse a folder without a valid stamp -------------------------------------
def bundled_store(path: Path) -> dict[str, object]:
    """An Oxigraph store of the bundled data built without `spacecoop load` (so unstamped),
    and the stamp that load would have written for it."""
    store = ox.Store(str(path))
    load_oxigraph(store, [Source(p, config.graph_iri(p.stem)) for p in sorted(config.DATA_DIR.glob("*.ttl"))])
    store.flush()
    triples, graphs = store_facts(store)
    del store
    return {"format": store_folder.STAMP_FORMAT, "complete": True, "version": "v1", "triples": triples,
            "named_graphs": list(graphs)}


def stamped(path: Path, stamp: dict[str, object]) -> None:
    (path / STORE_STAMP).write_bytes(orjson.dumps(stamp))


BROKEN_STAMPS: dict[str, tuple[Callable[[Path, dict[str, object]], None], str]] = {
    "missing": (lambda p, good: None, "it has no stamp"),
    "unreadable": (lambda p, good: (p / STORE_STAMP).mkdir(), "its stamp cannot be read"),
    "not JSON": (lambda p, good: (p / STORE_STAMP).write_text('{"format": 2, '), "its stamp is not valid JSON"),
    "older format": (lambda p, good: stamped(p, {k: good[k] for k in ("version", "triples", "named_graphs")}),
                     "its stamp is from an older `spacecoop load`"),
    "not complete": (lambda p, good: stamped(p, {**good, "complete": False}), "its stamp says the load did not finish"),
    "other count": (lambda p, good: stamped(p, {**good, "triples": 7}),
                    "its stamp records 7 triples but the store holds"),
    "other graphs": (lambda p, good: stamped(p, {**good, "named_graphs": ["https://spacecoop.example/graph/gone"]}),
                     "its stamp names other graphs"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_STAMPS))
def test_serve_refuses_a_store_without_a_valid_stamp(tmp_path: Path, case: str) -> None:
    path = tmp_path / "kg"
    spoil, words = BROKEN_STAMPS[case]
    spoil(path, bundled_store(path))
    done = subprocess.run([SPACECOOP, "serve", "--port", str(free_port()), "--store", f"oxigraph:{path}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert_one_line(done.stderr, f"spacecoop serve: {path} is not a complete store: {words}",
                    f"`spacecoop load FILE… --store oxigraph:{path}`")


def test_query_refuses_an_unstamped_store_in_the_same_line(tmp_path: Path) -> None:
    path = tmp_path / "kg"
    bundled_store(path)
    query = tmp_path / "count.rq"
    query.write_text(COUNT)
    done = subprocess.run([SPACECOOP, "query", "--file", str(query), "--store", f"oxigraph:{path}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert_one_line(done.stderr, f"spacecoop query: {path} is not a complete store: it has no stamp",
                    f"--store oxigraph:{path}")


def test_a_good_stamp_is_served_with_its_version(tmp_path: Path) -> None:
    path = tmp_path / "kg"
    good = bundled_store(path)
    stamped(path, good)
    engine = Engine(config.Settings(store=f"oxigraph:{path}"))
    engine.start_local()
    try:
        assert (engine.version, engine.triple_count) == ("v1", good["triples"])
        assert served_count(path) == good["triples"]
    finally:
        engine.close()


# --- the swap, failed at each step in-process ----------------------------------------------
def built(path: Path, data: Path, version: str) -> Path:
    """A complete store of ``data`` at ``path``, built as `spacecoop load` builds it."""
    Build(path).run(lambda store: load_oxigraph(store, [Source(data, config.graph_iri(data.stem))]), lambda: version)
    return path


@pytest.fixture
def two_stores(tmp_path: Path) -> tuple[Path, Path]:
    """PATH holding store "old" (2 triples) and a complete store "new" (3 triples) beside it."""
    old, new = tmp_path / "old.nt", tmp_path / "new.nt"
    old.write_text("".join(f"<http://ex/s{i}> <http://ex/p> \"old\" .\n" for i in range(2)))
    new.write_text("".join(f"<http://ex/s{i}> <http://ex/p> \"new\" .\n" for i in range(3)))
    path = built(tmp_path / "kg", old, "old")
    return path, built(store_folder.sibling(path, store_folder.PARTIAL), new, "new")


def at_path(path: Path) -> tuple[str, int]:
    store, stamp = open_complete(path)
    assert len(store) == stamp.triples
    return stamp.version, stamp.triples


class Boom(OSError):
    pass


def failing_at(failing: set[int], real: Callable[..., None]) -> Callable[..., None]:
    """``os.rename`` that raises on the uses numbered in ``failing`` (counting from 1)."""
    calls = [0]

    def rename(a: object, b: object) -> None:
        calls[0] += 1
        if calls[0] in failing:
            raise Boom(5, "Input/output error")
        real(a, b)

    return rename


@pytest.mark.parametrize("exchanges", [True, False], ids=["renameat2", "two renames"])
@pytest.mark.parametrize("fail_at", [{1}, {2}, {3}, {3, 4}], ids=["1", "2", "3", "3+4"])
def test_a_swap_failing_at_any_rename_leaves_a_complete_store_at_path(
        two_stores: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, exchanges: bool, fail_at: set[int]) -> None:
    path, new = two_stores
    if not exchanges:
        monkeypatch.setattr(store_folder, "exchange", lambda a, b: False)
    monkeypatch.setattr(os, "rename", failing_at(fail_at, os.rename))
    try:
        store_folder.swap_into_place(new, path)
    except Boom:
        monkeypatch.undo()
        # Renames: 1 new → PATH (refused: PATH is not empty); without renameat2 then 2 PATH → aside,
        # 3 new → PATH, 4 aside → PATH (the way back after 3 failed).
        if 4 not in fail_at:
            assert at_path(path) == ("old", 2), "PATH is still the previous store"
        else:
            assert not path.exists(), "both renames failed: the previous store is still aside"
        assert at_path(new) == ("new", 3), "the new store is still whole beside it"
        store_folder.tidy(path)  # what the next load does first
        assert at_path(path) == ("old", 2) and leftovers(path) == []
    else:
        assert exchanges and min(fail_at) >= 2, "with renameat2 there is one rename, then the exchange"
        assert at_path(path) == ("new", 3) and leftovers(path) == []


def test_a_swap_whose_exchange_fails_leaves_the_previous_store(two_stores: tuple[Path, Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path, new = two_stores

    def refuse(a: Path, b: Path) -> bool:
        raise Boom(5, "Input/output error")

    monkeypatch.setattr(store_folder, "exchange", refuse)
    with pytest.raises(Boom):
        store_folder.swap_into_place(new, path)
    assert at_path(path) == ("old", 2) and at_path(new) == ("new", 3)


def test_a_swap_that_cannot_remove_the_previous_store_still_serves_the_new(
        two_stores: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path, new = two_stores

    def stuck(folder: object, ignore_errors: bool = False) -> None:
        if not ignore_errors:
            raise Boom(5, "Input/output error")

    monkeypatch.setattr(shutil, "rmtree", stuck)
    store_folder.swap_into_place(new, path)
    assert at_path(path) == ("new", 3)
    monkeypatch.undo()
    store_folder.tidy(path)  # the next load: the previous store left beside PATH goes
    assert leftovers(path) == []


def test_a_previous_store_moved_aside_by_a_killed_swap_is_put_back(two_stores: tuple[Path, Path]) -> None:
    path, new = two_stores
    dead = subprocess.Popen(["true"])
    dead.wait()
    aside = store_folder.sibling(path, store_folder.OLD, dead.pid)
    os.rename(path, aside)  # as a load killed between the two renames (no renameat2) leaves it
    os.rename(new, store_folder.sibling(path, store_folder.PARTIAL, dead.pid))
    with pytest.raises(StoreRefused, match="no Oxigraph store at"):
        served_count(path)
    store_folder.tidy(path)
    assert at_path(path) == ("old", 2) and leftovers(path) == []


def test_the_folder_of_a_load_still_running_is_left_alone(two_stores: tuple[Path, Path]) -> None:
    path, new = two_stores
    running = subprocess.Popen(["sleep", "30"])
    try:
        theirs = store_folder.sibling(path, store_folder.PARTIAL, running.pid)
        os.rename(new, theirs)
        store_folder.tidy(path)
        assert at_path(theirs) == ("new", 3)
    finally:
        running.kill()
        running.wait()


def test_a_first_build_renames_into_an_empty_folder(tmp_path: Path) -> None:
    data = tmp_path / "one.nt"
    data.write_text("<http://ex/s> <http://ex/p> \"x\" .\n")
    path = tmp_path / "kg"
    path.mkdir()
    built(path, data, fingerprint([Source(data, None)]))
    assert at_path(path)[1] == 1 and leftovers(path) == []
