"""Persistent Oxigraph stores, complete or not at all: how ``spacecoop load`` builds one and
how ``serve`` knows it may open it.

A store is a folder PATH holding Oxigraph's files and a stamp, ``spacecoop-store.json``,
written last: the sources' fingerprint (the graph's version, the ETag seed), the triple
count and named graphs, a format number and ``"complete": true``. ``Build`` never writes
into PATH itself:

1. the quads go into a fresh sibling folder ``PATH.partial-<pid>`` (same parent, so the
   same filesystem, so that the final rename is atomic);
2. the store is flushed and closed, reopened read-only and counted: it must hold what
   was loaded;
3. every file is fsynced, then the stamp is written and fsynced: nothing is stamped that
   is not on disk;
4. the folder is swapped into place: renamed onto PATH when there is none (or an empty
   folder), else exchanged with the previous store in one step (Linux ``renameat2`` with
   ``RENAME_EXCHANGE``) and the previous store removed.

So a load that is killed, fails or fills the disk leaves at PATH the previous complete
store or the new one, never a part. What a killed load leaves beside PATH
(``PATH.partial-<pid>``, ``PATH.old-<pid>``) is removed by the next load and never opened
by ``serve``, which opens PATH only when its stamp is valid and agrees with the store
(``open_complete``). A PATH that holds anything else is never replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import os
import shutil
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

STORE_STAMP = "spacecoop-store.json"
# 1: the stamp before complete-or-nothing loads (no "complete", no "format"); 2: this one.
STAMP_FORMAT = 2


class StoreRefused(Exception):
    """A folder that is not a complete store built by ``spacecoop load``: the message names
    it, says why and what to do (one line, for ``serve`` and ``query`` to print)."""


class LoadFailed(Exception):
    """A load that stopped before its store was put in place: one line saying why."""


def load_hint(folder: Path | str) -> str:
    """The command that builds a store at ``folder``.

    >>> load_hint("/srv/kg")
    '`spacecoop load FILE… --store oxigraph:/srv/kg`'
    """
    return f"`spacecoop load FILE… --store oxigraph:{folder}`"


@dataclass(frozen=True)
class Stamp:
    """What ``spacecoop load`` records beside a store it built completely."""

    version: str  # the sources' fingerprint (loader.fingerprint): the ETag seed
    triples: int
    named_graphs: tuple[str, ...]

    def to_json(self) -> bytes:
        return orjson.dumps({"format": STAMP_FORMAT, "complete": True, "version": self.version,
                             "triples": self.triples, "named_graphs": list(self.named_graphs)},
                            option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> Stamp:
        """The stamp in ``data``; ValueError saying what is wrong with it.

        >>> Stamp.from_json(Stamp("abc", 3, ("http://g/1",)).to_json())
        Stamp(version='abc', triples=3, named_graphs=('http://g/1',))
        >>> Stamp.from_json(b'{"version": "abc", "triples": 3, "named_graphs": []}')
        Traceback (most recent call last):
        ValueError: its stamp is from an older `spacecoop load` (format 1)
        >>> Stamp.from_json(b'{"format": 2, "complete": false}')
        Traceback (most recent call last):
        ValueError: its stamp says the load did not finish
        >>> Stamp.from_json(b'{"format": 2, "complete": true, "triples": "many"}')
        Traceback (most recent call last):
        ValueError: its stamp is not one `spacecoop load` writes
        """
        try:
            recorded = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ValueError(f"its stamp is not valid JSON ({STORE_STAMP})") from None
        if not isinstance(recorded, dict):
            raise ValueError("its stamp is not one `spacecoop load` writes")
        if recorded.get("format", 1) != STAMP_FORMAT:
            raise ValueError(f"its stamp is from an older `spacecoop load` (format {recorded.get('format', 1)})")
        if recorded.get("complete") is not True:
            raise ValueError("its stamp says the load did not finish")
        version, triples, graphs = recorded.get("version"), recorded.get("triples"), recorded.get("named_graphs")
        if not (isinstance(version, str) and type(triples) is int and isinstance(graphs, list)
                and all(isinstance(g, str) for g in graphs)):
            raise ValueError("its stamp is not one `spacecoop load` writes")
        return cls(version, triples, tuple(graphs))


def store_facts(store: Any) -> tuple[int, tuple[str, ...]]:
    """An Oxigraph store's quad count and sorted named graphs (the count reads the whole
    index: about 0.4 s a million quads)."""
    return len(store), tuple(sorted(g.value for g in store.named_graphs()))


def is_ours(folder: Path) -> bool:
    """Whether ``folder`` carries a stamp of ours (complete or not): a store we may replace."""
    return (folder / STORE_STAMP).is_file()


def read_stamp(folder: Path) -> Stamp:
    """The stamp of the store at ``folder``; StoreRefused when it has none that is valid."""
    try:
        data = (folder / STORE_STAMP).read_bytes()
    except FileNotFoundError:
        raise _refused(folder, f"it has no stamp ({STORE_STAMP}): an interrupted load, "
                               "or not built by `spacecoop load`") from None
    except OSError as err:
        raise _refused(folder, f"its stamp cannot be read ({err.strerror or err})") from None
    try:
        return Stamp.from_json(data)
    except ValueError as err:
        raise _refused(folder, str(err)) from None


def open_complete(folder: Path) -> tuple[Any, Stamp]:
    """The store at ``folder``, opened read-only, and its stamp; StoreRefused unless a
    complete ``spacecoop load`` built it (a valid stamp whose counts agree with the store)."""
    import pyoxigraph as ox

    if not folder.is_dir():
        raise StoreRefused(f"no Oxigraph store at {folder}; build one with {load_hint(folder)}")
    stamp = read_stamp(folder)
    try:
        store = ox.Store.read_only(str(folder))
    except (OSError, ValueError, RuntimeError) as err:
        raise _refused(folder, f"Oxigraph cannot open it ({str(err).splitlines()[0] if str(err) else err!r})") from None
    triples, graphs = store_facts(store)
    if triples != stamp.triples:
        raise _refused(folder, f"its stamp records {stamp.triples:,} triples but the store holds {triples:,}")
    if graphs != stamp.named_graphs:
        raise _refused(folder, "its stamp names other graphs than the store holds")
    return store, stamp


def _refused(folder: Path, why: str) -> StoreRefused:
    return StoreRefused(f"{folder} is not a complete store: {why}; build it again with {load_hint(folder)}")


# ===================================================================================
# Building a store beside PATH and swapping it in
# ===================================================================================
PARTIAL, OLD = "partial", "old"  # the kinds of sibling folder a load makes


def sibling(target: Path, kind: str, pid: int | None = None) -> Path:
    """The folder next to ``target`` that a load (process ``pid``) builds in or moves aside to.

    >>> sibling(Path("/srv/kg"), "partial", 42)
    PosixPath('/srv/kg.partial-42')
    """
    return target.with_name(f"{target.name}.{kind}-{os.getpid() if pid is None else pid}")


@dataclass(frozen=True)
class Built:
    """What a finished ``Build`` put in place, with the time its last steps took."""

    stamp: Stamp
    verify_seconds: float  # reopen read-only and count
    sync_seconds: float  # fsync every file
    swap_seconds: float  # the rename(s) into place and removing the previous store


class Build:
    """One complete-or-nothing build of the store at ``target`` (see the module's docstring).

    ``replaced`` turns true the moment the new store is at ``target``: a caller told of an
    interruption knows from it whether the previous store is still there.
    """

    def __init__(self, target: Path) -> None:
        # A symbolic link is followed: the store is built beside, and swapped into, its target.
        self.target = Path(os.path.realpath(target))
        self.partial = sibling(self.target, PARTIAL)
        self.replaced = False
        self.had_previous = False

    def check_target(self) -> None:
        """LoadFailed unless ``target`` is absent, an empty folder or a stamped store of ours."""
        target = self.target
        if not target.parent.is_dir():
            raise LoadFailed(f"no folder {target.parent} to build {target.name} in; create it first")
        if not target.exists():
            return
        if not target.is_dir():
            raise LoadFailed(f"{target} is a file, not a store folder; nothing was changed")
        if is_ours(target):
            self.had_previous = True
        elif any(target.iterdir()):
            raise LoadFailed(f"{target} holds files but no {STORE_STAMP}, so it is not a store built by "
                             "`spacecoop load`; not replacing it: remove it yourself or choose another path")

    def unchanged(self) -> str:
        """What a failed build left at ``target``, in words."""
        return (f"the previous store at {self.target} is unchanged" if self.had_previous
                else f"no store was made at {self.target}")

    def run(self, fill: Callable[[Any], int], version: Callable[[], str],
            finish: Callable[[Path, Stamp], None] | None = None) -> Built:
        """Fill a new store (``fill(store)`` returns the quads it loaded), verify, stamp it
        with ``version()`` and swap it into place; on any failure the new folder is removed
        and the exception raised again (LoadFailed for a store that does not verify).

        ``finish(folder, stamp)`` adds what belongs beside the verified, closed store (its
        dumps) before the stamp is written: a store is stamped with all of it or not at all."""
        import pyoxigraph as ox

        tidy(self.target)
        self.check_target()
        os.mkdir(self.partial)
        store: Any = None
        try:
            store = ox.Store(str(self.partial))
            loaded = fill(store)
            store.flush()  # no optimize(): compaction costs a third more load time; reads are fast without it
            store = None  # closes the store: it must be shut before it is reopened and moved
            started = time.perf_counter()
            try:
                stamp = verify(self.partial, loaded, version())
            except LoadFailed as err:
                raise LoadFailed(f"{err}; {self.unchanged()}") from None
            verified = time.perf_counter()
            if finish is not None:
                finish(self.partial, stamp)
            sync_tree(self.partial)
            (self.partial / STORE_STAMP).write_bytes(stamp.to_json())
            sync_file(self.partial / STORE_STAMP)
            sync_file(self.partial)
            synced = time.perf_counter()
            with signals_deferred():  # a Ctrl-C during the swap takes effect once `replaced` is true
                swap_into_place(self.partial, self.target)
                self.replaced = True
            return Built(stamp, verified - started, synced - verified, time.perf_counter() - synced)
        except BaseException as err:
            # The frames of `fill` still hold the store: cleared, it closes before its folder goes.
            traceback.clear_frames(err.__traceback__)
            store = None
            if not self.replaced:
                shutil.rmtree(self.partial, ignore_errors=True)
            raise


def verify(folder: Path, loaded: int, version: str) -> Stamp:
    """The stamp for the closed store at ``folder``, read back from disk; LoadFailed when
    it does not hold the ``loaded`` quads."""
    import pyoxigraph as ox

    reopened = ox.Store.read_only(str(folder))
    triples, graphs = store_facts(reopened)
    del reopened
    if triples != loaded:
        raise LoadFailed(f"the new store holds {triples:,} quads where {loaded:,} were loaded")
    return Stamp(version, triples, graphs)


def swap_into_place(new: Path, target: Path) -> None:
    """Put the complete store ``new`` at ``target`` (same parent); remove the previous one.

    At every step ``target`` is the previous store or the new one: a plain rename when
    ``target`` is absent or an empty folder, else one atomic exchange. Where the filesystem
    cannot exchange, the previous store is renamed aside first and back again if the
    second rename fails; a process killed between the two leaves it at ``PATH.old-<pid>``,
    where the next load finds it (``tidy``).
    """
    try:
        os.rename(new, target)
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    else:
        sync_file(target.parent)
        return
    if exchange(new, target):
        sync_file(target.parent)
        shutil.rmtree(new, ignore_errors=True)  # now the previous store; a leftover goes with the next load
        return
    aside = sibling(target, OLD)
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)
        raise
    sync_file(target.parent)
    shutil.rmtree(aside, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the system or filesystem cannot, OSError for any other failure."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def tidy(target: Path) -> None:
    """Deal with what killed loads left beside ``target`` (loads still running are left be).

    A ``.partial-<pid>`` is removed. An ``.old-<pid>`` is a previous store moved aside by a
    load killed mid-swap: renamed back when ``target`` is missing, else removed.
    """
    for kind in (OLD, PARTIAL):
        for found in sorted(glob.glob(glob.escape(str(target)) + f".{kind}-*")):
            leftover = Path(found)
            pid = leftover.name.rsplit("-", 1)[1]
            if not pid.isdigit() or (int(pid) != os.getpid() and _running(int(pid))):
                continue
            if kind == OLD and not target.exists() and is_ours(leftover):
                os.rename(leftover, target)
            else:
                shutil.rmtree(leftover, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sync_file(path: Path) -> None:
    """fsync one file or folder (a folder: so that the names in it are on disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(folder: Path) -> None:
    """fsync every file below ``folder`` and the folders themselves."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            sync_file(Path(root, name))
        sync_file(Path(root))


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (main thread; elsewhere a no-op)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# ===================================================================================
# Failures in plain words
# ===================================================================================
_FULL = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def os_error_words(err: OSError, target: Path) -> str:
    """What went wrong, for a person: pyoxigraph's OSErrors carry no errno, only words.

    >>> os_error_words(OSError("IO error: No space left on device: While appending to file"), Path("/srv/kg"))
    'disk full while writing /srv/kg'
    >>> os_error_words(PermissionError(errno.EACCES, "Permission denied", "/srv/kg.partial-7"), Path("/srv/kg"))
    'cannot write in /srv (read-only or no permission)'
    >>> os_error_words(PermissionError(errno.EACCES, "Permission denied", "/data/a.nt"), Path("/srv/kg"))
    'cannot read /data/a.nt: Permission denied'
    """
    code = err.errno if err.errno is not None else next(
        (c for c in (*_FULL, *_NOT_WRITABLE, errno.ENOENT) if os.strerror(c) in str(err)), None)
    theirs = err.filename is not None and not os.fspath(err.filename).startswith(os.fspath(target))
    if theirs and code not in _FULL:  # a source file, not the store
        return f"cannot read {err.filename}: {err.strerror or err}"
    if code in _FULL:
        return f"disk full while writing {target}"
    if code in _NOT_WRITABLE:
        return f"cannot write in {target.parent} (read-only or no permission)"
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    return f"cannot write {target}: {err.strerror or first}"
