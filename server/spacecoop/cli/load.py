"""``spacecoop load FILE… --store oxigraph:PATH``: build a persistent store, complete or not at all.

The store is built beside PATH and moved into place only once it is complete and verified
(``store_folder.Build``): a bad file, a full disk, a read-only folder, Ctrl-C or SIGTERM
stop the load with one line saying so, and PATH keeps the store it had (a ``kill -9``
too, without the line). Here: arguments, the progress bar and the messages.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from spacecoop.config import SettingError, Settings, StoreSpec
from spacecoop.engine.store_folder import Build, LoadFailed, Stamp, os_error_words
from spacecoop.rdf.errors import LoadError
from spacecoop.rdf.loader import Source, bundled_sources, fingerprint, load_oxigraph, user_sources

T = TypeVar("T")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the load is (so the new folder is removed on the way out)."""


_SIGNALLED: list[int] = []  # the stop signals this load has received


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _SIGNALLED.append(signum)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _unless_signalled(value: T) -> T:
    """``value``, unless a stop signal came meanwhile: then its exception again.

    Python runs a signal's handler at the next line of Python the main thread runs; while
    pyoxigraph's native loader is at work that may be a callback of its own (reading the
    file), whose exception it may drop near the end of the file — so the load would go on.
    Each step's end looks again.
    """
    if _SIGNALLED:
        raise Terminated if _SIGNALLED[-1] == signal.SIGTERM else KeyboardInterrupt
    return value


def cli_load(args: argparse.Namespace) -> int:
    """Build a persistent Oxigraph store once, with a progress bar and triples/s."""
    try:
        store = StoreSpec.parse(args.store)
    except SettingError:
        store = StoreSpec("memory")  # refused just below, in this command's own words
    if not store.persistent:
        return _fail("--store must be oxigraph:PATH")
    path = Path(store.location)
    try:
        sources: list[Source] = user_sources(args.files) if args.files else bundled_sources()
    except LoadError as err:
        return _fail(f"{err}; nothing was changed")
    missing = [s.path for s in sources if not s.path.exists()]
    if missing:
        return _fail(f"no such file: {missing[0]}; nothing was changed")
    build = Build(path)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    started = time.perf_counter()
    try:
        dumps = _Dumps(args.progress or sys.stderr.isatty())
        built = build.run(lambda store: _unless_signalled(_load_with_progress(store, sources, args.progress)),
                          lambda: _unless_signalled(fingerprint(sources)),
                          None if args.no_dumps else dumps.checked)
    except LoadError as err:
        return _fail(f"{err}; nothing was changed at {build.target}")
    except LoadFailed as err:
        return _fail(str(err))
    except OSError as err:
        return _fail(f"{os_error_words(err, build.target)}; {build.unchanged()}")
    except KeyboardInterrupt as err:
        code, what = (143, "terminated (SIGTERM)") if isinstance(err, Terminated) else (130, "interrupted")
        if build.replaced:
            _fail(f"{what} after the new store was put in place at {build.target}")
        else:
            _fail(f"{what}; {build.unchanged()}")
        return code
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    seconds = time.perf_counter() - started - dumps.seconds  # the quads' part: what the rate is of
    total = built.stamp.triples
    print(f"loaded {total:,} quads into {build.target} in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} "
          f"triples/s; verified in {built.verify_seconds:.2f} s, synced in {built.sync_seconds:.2f} s, "
          f"swapped in {built.swap_seconds * 1000:.0f} ms; "
          + ("no dumps)" if args.no_dumps else f"dumps and statistics built in {dumps.seconds:.1f} s)"))
    return 0


def _load_with_progress(store: Any, sources: list[Source], force: bool) -> int:
    """Load every source into ``store`` under a rich progress bar (on a terminal, or ``--progress``)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())
    with Progress(*columns, disable=not sys.stderr.isatty() and not force) as bar:
        tasks = {s.path: bar.add_task(s.path.name, total=s.path.stat().st_size if s.path.is_file() else 1, rate="")
                 for s in sources}

        class Report:
            def read(self, source: Source, done: int, total: int) -> None:
                bar.update(tasks[source.path], completed=done)

            def finished(self, source: Source, quads: int, seconds: float) -> None:
                rate = f"{quads:,} quads, {quads / max(seconds, 1e-9):,.0f} triples/s"
                task = tasks[source.path]
                bar.update(task, completed=bar.tasks[task].total, rate=rate)

        return load_oxigraph(store, sources, progress=Report())


class _Dumps:
    """The step after the quads: the dumps and VoID statistics, made into the new store's
    folder before it is stamped (the time it took, for the summary line)."""

    def __init__(self, announce: bool) -> None:
        self.announce, self.seconds = announce, 0.0

    def __call__(self, folder: Path, stamp: Stamp) -> None:
        from spacecoop.linked import dump_files  # at call time: it imports the engine, which --no-dumps never needs

        if self.announce:
            print(f"building the dumps of {stamp.triples:,} quads …", file=sys.stderr)
        started = time.perf_counter()
        dump_files.build_for_store(folder, stamp.version, Settings())
        self.seconds = time.perf_counter() - started

    def checked(self, folder: Path, stamp: Stamp) -> None:
        """The step, then a look for a stop signal it may have hidden (``_unless_signalled``)."""
        self(folder, stamp)
        _unless_signalled(None)


def _fail(message: str) -> int:
    print(f"spacecoop load: {message}", file=sys.stderr)
    return 1
