"""Messages between the server and its query workers, over a Unix socket pair.

A message is an 8-byte big-endian length and a pickle. The worker side reads and writes
with plain blocking calls; the server side reads with an asyncio protocol, so an answer
is picked up by the event loop the moment it arrives — no thread hand-off, and a large
answer never blocks other requests while it is being received.

>>> a, b = socket.socketpair()
>>> send(a, ("ok", 42)); receive(b)
('ok', 42)
>>> a.close(); b.close()
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, cast

_LENGTH = struct.Struct("!Q")


def send(sock: socket.socket, message: Any) -> None:
    """Write one message (blocking)."""
    header, payload = _frame(message)
    if len(payload) < 1 << 16:
        sock.sendall(header + payload)
    else:  # no concatenated copy of a large answer
        sock.sendall(header)
        sock.sendall(payload)


def receive(sock: socket.socket) -> Any:
    """Read one message (blocking); EOFError when the other side has closed."""
    (length,) = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))
    return pickle.loads(_read_exactly(sock, length))


def encode(message: Any) -> bytes:
    """One message as bytes, for an asyncio transport's ``write``."""
    header, payload = _frame(message)
    return header + payload


def _frame(message: Any) -> tuple[bytes, bytes]:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)), payload


def _read_exactly(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise EOFError("the other side closed the channel")
        got += k
    return buf


class MessageReader(asyncio.Protocol):
    """The server's end: collects whole messages; ``expect()`` is a future for the next one.

    ``on_lost`` is called once the connection has closed (the worker has gone, or was stopped).
    """

    def __init__(self, on_lost: Callable[[], None] | None = None) -> None:
        self._buffer = bytearray()
        self._messages: deque[Any] = deque()
        self._waiter: asyncio.Future[Any] | None = None
        self._closed = False
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                return
            message = pickle.loads(bytes(self._buffer[_LENGTH.size:end]))
            del self._buffer[:end]
            self._messages.append(message)
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()
        if self._on_lost is not None:
            self._on_lost()

    def expect(self) -> asyncio.Future[Any]:
        """A future resolved with the next message (EOFError if the worker has gone)."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self._wake()  # a message that has already arrived resolves it at once
        return waiter

    def write(self, message: Any) -> None:
        if self.transport is None or self.transport.is_closing():
            raise EOFError("the worker has gone")
        self.transport.write(encode(message))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._messages:
            self._waiter = None
            waiter.set_result(self._messages.popleft())
        elif self._closed:
            self._waiter = None
            waiter.set_exception(EOFError("the worker has gone"))
