"""``spacecoop validate [FILE…] [--shapes …] [--format json]``: the curator's report,
printed (colour on a terminal); exit 0 when the graph conforms, 1 otherwise."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.text import Text

from spacecoop.validate import Report, render_json, render_lines, render_text, validate


def print_report(report: Report, fmt: str = "text") -> None:
    """Print the report: JSON, colour on a terminal (rich), plain text otherwise."""
    if fmt == "json":
        sys.stdout.write(render_json(report))
    elif sys.stdout.isatty():
        console = Console(highlight=False, soft_wrap=True)
        for line in render_lines(report):
            console.print(Text.assemble(*line))
    else:
        sys.stdout.write(render_text(report))


def cli_validate(args: argparse.Namespace) -> int:
    """``spacecoop validate [paths…] [--format json] [--shapes …]``: 0 conforms, 1 otherwise."""
    report = validate(args.paths or (), args.shapes or None)
    print_report(report, args.format)
    return 0 if report.conforms else 1
