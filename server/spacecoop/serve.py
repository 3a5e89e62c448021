"""``spacecoop serve`` and ``spacecoop load``: running the app and building stores."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from spacecoop import config
from spacecoop.loader import LoadError, Source, bundled_sources, fingerprint, load_oxigraph, user_sources
from spacecoop.store import Engine, write_stamp


def settings_from_args(args: argparse.Namespace) -> config.Settings:
    """CLI flags override the environment-derived defaults."""
    changes: dict[str, object] = {}
    if getattr(args, "store", None):
        changes["store"] = args.store
    if getattr(args, "data", None):
        changes["data_files"] = tuple(args.data)
    if getattr(args, "timeout", None):
        changes["query_timeout"] = args.timeout
    if getattr(args, "workers", None):
        changes["workers"] = args.workers
    return config.Settings().with_(**changes)


def cli_serve(args: argparse.Namespace) -> int:
    """Serve the app with uvicorn (uvloop + httptools when installed)."""
    settings = settings_from_args(args)
    if not settings.public_url:
        settings = settings.with_(public_url=f"http://{args.host}:{args.port}/")
    engine = Engine(settings)
    # The store loads and the query workers boot while the web framework is imported.
    engine.launch()
    # Importing the framework builds ~10^5 long-lived objects: collecting garbage while they
    # pile up costs ~50 ms and finds nothing; frozen afterwards, they stay out of every later
    # collection too (shorter pauses while serving).
    gc.disable()
    import uvicorn

    from spacecoop.app import asgi_app

    try:
        app = asgi_app(settings, engine)
        engine.launched()
    except (LoadError, ValueError, FileNotFoundError) as err:
        engine.close()
        print(f"spacecoop serve: {err}", file=sys.stderr)
        return 1
    finally:
        gc.freeze()
        gc.enable()
    # Bounded heads, bodies, idle time and connection count (http_limits.py); imported here,
    # with uvicorn, so the import overlaps the store's loading like the framework's does.
    from spacecoop import http_limits

    limits = http_limits.limits_from_settings(settings, http_limits.raise_fd_limit())
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, ws="none",
                http=http_limits.protocol_class(limits))
    return 0


def cli_load(args: argparse.Namespace) -> int:
    """Build a persistent Oxigraph store once, with a progress bar and triples/s."""
    import pyoxigraph as ox
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

    if not args.store.startswith("oxigraph:"):
        print("spacecoop load: --store must be oxigraph:PATH", file=sys.stderr)
        return 1
    path = Path(args.store.removeprefix("oxigraph:"))
    sources: list[Source] = user_sources(args.files) if args.files else bundled_sources()
    missing = [s.path for s in sources if not s.path.exists()]
    if missing:
        print(f"spacecoop load: no such file: {missing[0]}", file=sys.stderr)
        return 1
    store = ox.Store(str(path))
    started = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())
    with Progress(*columns, disable=not sys.stderr.isatty() and not args.progress) as bar:
        tasks = {s.path: bar.add_task(s.path.name, total=s.path.stat().st_size if s.path.is_file() else 1, rate="")
                 for s in sources}

        class Report:
            def read(self, source: Source, done: int, total: int) -> None:
                bar.update(tasks[source.path], completed=done)

            def finished(self, source: Source, quads: int, seconds: float) -> None:
                rate = f"{quads:,} quads, {quads / max(seconds, 1e-9):,.0f} triples/s"
                task = tasks[source.path]
                bar.update(task, completed=bar.tasks[task].total, rate=rate)

        try:
            total = load_oxigraph(store, sources, progress=Report())
        except LoadError as err:
            # Bulk loading is not transactional: what was read before the error is in the store.
            print(f"spacecoop load: {err}\nspacecoop load: the store at {path} is incomplete; fix the file, "
                  "delete the store and load again", file=sys.stderr)
            return 1
    # No store.optimize(): compaction costs a third more load time and reads are fast without it.
    store.flush()
    write_stamp(path, store, fingerprint(sources))
    seconds = time.perf_counter() - started
    print(f"loaded {total:,} quads into {path} in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} triples/s)")
    return 0
