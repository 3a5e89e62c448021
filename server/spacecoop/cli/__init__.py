"""The ``spacecoop`` command: argument parsing only; each command lives in its module.

``spacecoop validate | serve | load | query | queries | export | render``
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command → (module, function): the function takes the parsed args and returns an exit code.
COMMANDS = {
    "validate": ("spacecoop.cli.validate", "cli_validate"),
    "serve": ("spacecoop.cli.serve", "cli_serve"),
    "load": ("spacecoop.cli.load", "cli_load"),
    "query": ("spacecoop.cli.query", "cli_query"),
    "queries": ("spacecoop.cli.query", "cli_queries"),
    "export": ("spacecoop.cli.export", "cli_export"),
    "render": ("spacecoop.cli.render", "cli_render"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="spacecoop", description="SpaceCoop KG: validate, serve, query, export.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check the Turtle against the SHACL shapes")
    p.add_argument("paths", nargs="*", help="data files or folders (default: the bundled data)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--shapes", nargs="*", help="shape files (default: the bundled shapes)")

    p = sub.add_parser("serve", help="serve the SPARQL endpoint, pages and API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--store", help="memory | oxigraph | oxigraph:PATH | sparql:URL (default: oxigraph)")
    p.add_argument("--data", nargs="+", metavar="FILE", help="serve these RDF files instead of the bundled graph")
    p.add_argument("--timeout", type=float, help="query time limit in seconds (default 10)")
    p.add_argument("--workers", type=int, help="query worker processes (default 4)")
    p.add_argument("--quiet", action="store_true", help="no access log (the start-up lines and warnings stay)")

    p = sub.add_parser("load", help="build a persistent Oxigraph store from RDF files")
    p.add_argument("files", nargs="*", metavar="FILE", help="RDF files (default: the bundled graph)")
    p.add_argument("--store", required=True, help="oxigraph:PATH")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.add_argument("--no-dumps", action="store_true",
                   help="skip the dumps and VoID statistics (the server then builds them after it starts)")

    p = sub.add_parser("query", help="run a saved query (by name) or a .rq file")
    p.add_argument("name", nargs="?", help="saved query name (see `spacecoop queries`)")
    p.add_argument("--file", help="run the SPARQL in this file instead")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--format", choices=["table", "json", "csv", "turtle"], default="table")
    p.add_argument("--store", help="store to query (default: the bundled graph in memory)")
    p.add_argument("--update-expected", action="store_true",
                   help="rewrite queries/expected/ from the current answers (on purpose, never silently)")

    sub.add_parser("queries", help="list the saved queries")

    p = sub.add_parser("export", help="write the whole graph as a dump")
    p.add_argument("--format", choices=["ttl", "nt", "nq", "trig", "jsonld"], default="ttl")
    p.add_argument("--frame", help="JSON-LD frame name (e.g. mission)")
    p.add_argument("-o", "--output", help="output file (default: standard output)")

    p = sub.add_parser("render", help="draw the timeline or the cooperation map")
    p.add_argument("picture", choices=["timeline", "network"])
    p.add_argument("--mission", help="only this mission's neighbourhood (slug)")
    p.add_argument("-o", "--output", required=True, help="FILE.svg or FILE.png")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spacecoop`` console script."""
    args = build_parser().parse_args(argv)
    from spacecoop import config  # after parsing: --help needs no settings
    from spacecoop.engine.store_folder import StoreRefused

    # A setting that cannot be used stops every command before it starts: one line, exit 2
    # (as argparse does for a bad flag), never a traceback or a half-started server.
    if config.BASE_ERROR:
        print(f"spacecoop {args.command}: {config.BASE_ERROR}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[args.command]
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(func(args) or 0)
    except config.SettingError as err:
        print(f"spacecoop {args.command}: {err}", file=sys.stderr)
        return 2
    except StoreRefused as err:  # --store oxigraph:PATH that no complete `spacecoop load` built
        print(f"spacecoop {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `spacecoop export | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
