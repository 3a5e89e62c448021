"""The error every reader of the graph's sources raises: one line, ``file:line:column: message``."""

from __future__ import annotations

from pathlib import Path


class LoadError(Exception):
    """A source file could not be read; ``str()`` is ``file:line:column: message``."""

    def __init__(self, path: Path | str, line: int | None, column: int | None, message: str) -> None:
        self.path, self.line, self.column, self.message = str(path), line, column, message
        where = ":".join(str(x) for x in (self.path, line, column) if x is not None)
        super().__init__(f"{where}: {message}")
