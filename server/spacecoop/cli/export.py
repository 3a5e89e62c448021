"""``spacecoop export --format ttl|nt|nq|trig|jsonld [--frame NAME] [-o FILE]``: a dump
of the served graph, the same bytes as the file under ``/dumps/``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spacecoop import config
from spacecoop.linked.exports import ExportError, gzip_file, served_quads, write_dump
from spacecoop.rdf import jsonld


def cli_export(args: argparse.Namespace) -> int:
    """``spacecoop export --format ttl|nt|nq|trig|jsonld [--frame NAME] [-o FILE]``.

    ``--frame`` gives framed JSON-LD (so ``--format`` may be left out); an output name
    ending in ``.gz`` is gzipped. The bytes are those of the same file under ``/dumps/``,
    written as they are made (a file of any size, never whole in memory).
    """
    fmt = "jsonld" if args.frame and args.format == "ttl" else args.format
    settings = config.Settings()
    try:
        quads = served_quads(settings, None)
        if not args.output:
            write_dump(quads, fmt, sys.stdout.buffer, settings.base, args.frame,
                       jsonld.published_context_url(settings))
            sys.stdout.buffer.flush()
            return 0
        out = Path(args.output)
        plain = out.with_name(out.name + ".part")
        with plain.open("wb") as f:
            write_dump(quads, fmt, f, settings.base, args.frame, jsonld.published_context_url(settings))
        if out.suffix == ".gz":
            with out.open("wb") as f:
                gzip_file(plain, f)
            plain.unlink()
        else:
            plain.replace(out)
    except ExportError as err:
        print(f"spacecoop export: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {fmt}"
          + (f", frame {args.frame}" if args.frame else "") + ")", file=sys.stderr)
    return 0
