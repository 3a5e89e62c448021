"""``spacecoop render timeline|network [--mission SLUG] -o FILE.svg|.png``: a picture drawn
from the graph into a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spacecoop import config
from spacecoop.engine.query_rules import QueryError
from spacecoop.engine.store import Engine
from spacecoop.pictures import PictureError, graphviz, render_to_file
from spacecoop.saved.saved_queries import QueryFileError, UnknownQuery


def cli_render(args: argparse.Namespace) -> int:
    """``spacecoop render timeline|network [--mission SLUG] -o FILE.svg|.png``."""
    engine = Engine(config.Settings())
    try:
        engine.start_local()
        path = render_to_file(engine, args.picture, Path(args.output), args.mission)
    except PictureError as err:
        print(f"spacecoop render: {err.message}", file=sys.stderr)
        return 2 if err.status == 2 else 1
    except (graphviz.GraphvizError, QueryError, QueryFileError, UnknownQuery, OSError) as err:
        print(f"spacecoop render: {getattr(err, 'message', None) or err}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    print(f"wrote {path}", file=sys.stderr)
    return 0
