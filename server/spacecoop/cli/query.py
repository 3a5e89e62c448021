"""``spacecoop query NAME|--file F.rq`` and ``spacecoop queries``: run saved queries from
the command line, print their answers, and list or refresh their expected answers."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spacecoop import config
from spacecoop.engine.query_rules import QueryError
from spacecoop.engine.store import Engine
from spacecoop.linked import search_service
from spacecoop.rdf import results
from spacecoop.saved.saved_queries import (
    Outcome,
    ParamError,
    QueryFileError,
    SavedQuery,
    UnknownQuery,
    bind,
    display,
    get,
    iris_in,
    label_job,
    load_all,
    outcome,
    parse,
    pick_labels,
    split_header,
    update_expected,
)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _param_values(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParamError(pair, "write parameters as --param KEY=VALUE (e.g. --param mission=smile)")
        out[key.strip()] = value
    return out


def _engine(store: str | None) -> Engine:

    settings = config.Settings()
    engine = Engine(settings.with_(store=store) if store else settings)
    engine.start_local()
    search_service.attach(engine)  # the label index's SERVICE (find-by-label), as the server has it
    return engine


def cli_query(args: argparse.Namespace) -> int:
    """``spacecoop query NAME [--param k=v …] [--format …]``, ``--file my.rq``, ``--update-expected``."""
    try:
        if args.update_expected:
            if args.file:
                return _fail("--update-expected rewrites the saved queries' answers; it takes a NAME, not --file")
            return _cli_update(args)
        if args.file and args.name:
            return _fail("give a saved query NAME or --file, not both")
        if args.file:
            path = Path(args.file)
            if not path.is_file():
                return _fail(f"{path}: no such file")
            text = path.read_text(encoding="utf-8")
            query = _adhoc(text, path)
        elif args.name:
            query = get(args.name)
        else:
            return _fail("name a saved query (see `spacecoop queries`) or give --file my.rq")
        values = _param_values(args.param)
        fmt = args.format
        if fmt == "turtle" and not query.is_graph:
            return _fail(f"--format turtle is for CONSTRUCT and DESCRIBE; {query.name!r} is a {query.form} "
                         "(use table, json or csv)")
        job = bind(query, values, result_format="csv" if fmt == "csv" else "json",
                   graph_format={"turtle": "turtle", "json": "jsonld"}.get(fmt, "ntriples"))
    except (QueryFileError, ParamError, UnknownQuery) as err:
        return _fail(str(err))
    engine = _engine(args.store)
    try:
        answer = engine.run_sync(job)
        if fmt == "table":
            _print_table(engine, query, outcome(answer))
        elif fmt == "csv" and query.is_graph:

            res = outcome(answer)
            sys.stdout.write(results.to_csv(res.vars, res.rows).decode())
        else:
            body = answer.body.decode()
            sys.stdout.write(body if body.endswith("\n") else body + "\n")
    except QueryError as err:
        return _fail(f"{query.path or query.name}: {err.message}")
    finally:
        engine.close()
    return 0


def _adhoc(text: str, path: Path) -> SavedQuery:
    """A query from any file: its header is optional, its name is the file stem."""
    header, _, _ = split_header(text)
    if header:
        filled = {"summary": path.stem, "description": path.stem, "tags": ["adhoc"], **header}
        head = "".join(f"#+ {line}\n" for line in _dump_yaml(filled).splitlines())
        text = head + split_header(text)[1]
    else:
        text = f"#+ summary: {path.stem}\n#+ description: {path.name}\n#+ tags: [adhoc]\n" + text
    name = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "query"
    return parse(text, name, path)


def _dump_yaml(data: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def _print_table(engine: Engine, query: SavedQuery, result: Outcome) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
    if result.kind == "ask":
        console.print("yes" if result.boolean else "no")
        return
    labels: dict[str, str] = {}
    job = label_job(iris_in(result.rows))
    if job is not None:
        labels = pick_labels(outcome(engine.run_sync(job)).rows)
    table = Table(title=query.title, title_justify="left", show_lines=False)
    for v in result.vars:
        table.add_column(v, overflow="fold")
    for row in result.rows:
        table.add_row(*(display(row.get(v), labels, engine.settings.base) for v in result.vars))
    console.print(table)
    console.print(f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}", style="dim")


def _cli_update(args: argparse.Namespace) -> int:
    queries = load_all()
    if args.name:
        queries = [get(args.name)]
    engine = _engine(args.store)
    try:
        report = update_expected(engine, queries, remove_stale=not args.name)
    finally:
        engine.close()
    for kind in ("new", "changed", "removed"):
        for name in report[kind]:
            print(f"{kind:9} {name}")
    print(f"{len(report['unchanged'])} unchanged, {len(report['changed'])} changed, {len(report['new'])} new, "
          f"{len(report['removed'])} removed; review the change with `git diff queries/expected`")
    return 0


def cli_queries(args: argparse.Namespace) -> int:
    """``spacecoop queries``: the catalogue as a table."""
    from rich.console import Console
    from rich.table import Table

    del args
    try:
        queries = load_all()
    except QueryFileError as err:
        return _fail(str(err))
    console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
    table = Table(title=f"{len(queries)} saved queries — run one with `spacecoop query NAME`", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("title")
    table.add_column("form")
    table.add_column("parameters")
    table.add_column("tags")
    for q in queries:
        params = ", ".join(f"{p.name}:{p.type}" + (f"={p.default}" if p.default else "") for p in q.params)
        table.add_row(q.name, q.title, q.form, params, ", ".join(q.tags))
    console.print(table)
    return 0
