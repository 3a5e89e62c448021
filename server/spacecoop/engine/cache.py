"""A thread-safe LRU bounded by entry count and total bytes, for answers and responses.

>>> from dataclasses import dataclass
>>> @dataclass
... class Blob:
...     body: bytes
>>> c: BoundedCache[Blob] = BoundedCache(max_entries=2, max_bytes=1000)
>>> c.put("a", Blob(b"x")); c.put("b", Blob(b"y")); c.put("c", Blob(b"z"))
>>> c.get("a") is None, c.get("c")
(True, Blob(body=b'z'))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, Protocol, TypeVar


class HasBody(Protocol):
    @property
    def body(self) -> bytes: ...


V = TypeVar("V", bound=HasBody)


class BoundedCache(Generic[V]):
    """Least-recently-used entries go first once either bound is passed."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._data: OrderedDict[str, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: V) -> None:
        if len(value.body) > self.max_bytes // 8:  # one huge answer must not evict everything
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._data[key] = value
            self._bytes += len(value.body)
            while self._data and (len(self._data) > self.max_entries or self._bytes > self.max_bytes):
                _, dropped = self._data.popitem(last=False)
                self._bytes -= len(dropped.body)
