"""Bounded connections (http_limits.py), attacked over real sockets on a real ``spacecoop serve``.

Each test spells the attack the way that broke the unbounded server: headers that never
end, too many headers, a head or a body sent a byte at a time, idle sockets, and more
sockets than the process has file descriptors. Every loop here is bounded by a count
and a deadline, and the servers use short timeouts so the file runs in seconds.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from .conftest import LiveServer

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")]

ASK = b"GET /sparql?query=ASK%20%7B%7D HTTP/1.1\r\nHost: x\r\n"
# Distinct so a test can tell which timer closed a connection.
KEEPALIVE, HEADER, BODY = 0.5, 1.0, 1.5
MB = 1024 * 1024


@pytest.fixture(scope="module")
def short() -> Iterator[LiveServer]:
    """A server with second-long timeouts and the default size limits (16 KiB, 100 headers)."""
    srv = LiveServer(env={"SPACECOOP_KEEPALIVE_TIMEOUT": str(KEEPALIVE), "SPACECOOP_HEADER_TIMEOUT": str(HEADER),
                          "SPACECOOP_BODY_TIMEOUT": str(BODY)})
    yield srv
    srv.stop()


# --- helpers -----------------------------------------------------------------------------
def connect(srv: LiveServer, timeout: float = 5) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    s.settimeout(timeout)
    return s


def until_closed(s: socket.socket, within: float = 5) -> tuple[bytes, float]:
    """Everything the server sends until it closes (or resets), and how long that took."""
    started, data = time.monotonic(), b""
    s.settimeout(within)
    try:
        while time.monotonic() - started < within:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        else:
            raise AssertionError(f"still open after {within} s")
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        raise AssertionError(f"still open after {within} s") from None
    return data, time.monotonic() - started


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length (what the endpoint sends for ASK), leaving the socket open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"closed mid-response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = s.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def status_of(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def json_error(data: bytes) -> dict[str, object]:
    error = orjson.loads(data.split(b"\r\n\r\n", 1)[1])
    assert set(error) == {"status", "error", "message"}  # middleware.error_body's shape
    return error  # type: ignore[no-any-return]


def timed_ask(srv: LiveServer) -> tuple[int, float]:
    started = time.monotonic()
    with connect(srv) as s:
        s.sendall(ASK + b"\r\n")
        status, _, _ = read_response(s)
    return status, time.monotonic() - started


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- (1) header size ---------------------------------------------------------------------
def test_twenty_endless_2_mb_headers_keep_memory_bounded_and_others_served(short: LiveServer) -> None:
    pid = short.process.pid
    before = status_kb(pid, "VmRSS")
    try:  # reset the peak-RSS mark, so VmHWM below is the flood's peak
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        peak_mark = True
    except OSError:  # then the samples taken below are all we have
        peak_mark = False
    results: list[tuple[bytes, float] | BaseException | None] = [None] * 20

    def flood(i: int) -> None:
        try:
            with connect(short) as s:
                try:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: ")
                    for _ in range(2 * MB // 65536):  # never a CRLF: the header never ends
                        s.sendall(b"a" * 65536)
                except (ConnectionResetError, BrokenPipeError):
                    pass
                results[i] = until_closed(s)
        except BaseException as err:
            results[i] = err

    threads = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(20)]
    for t in threads:
        t.start()
    asks, peak = [], before
    deadline = time.monotonic() + 10
    while (any(t.is_alive() for t in threads) or len(asks) < 5) and time.monotonic() < deadline:
        asks.append(timed_ask(short))
        peak = max(peak, status_kb(pid, "VmRSS"))
    for t in threads:
        t.join(10)
    peak = max(peak, status_kb(pid, "VmHWM") if peak_mark else 0, status_kb(pid, "VmRSS"))

    for result in results:
        assert isinstance(result, tuple), result
        data, _ = result
        # 431 if it arrived before the reset (unread flood bytes make the close a reset).
        assert data == b"" or status_of(data) == 431, data[:80]
    assert any(isinstance(r, tuple) and r[0] for r in results), "no connection got the 431"
    assert all(status == 200 for status, _ in asks)
    assert max(seconds for _, seconds in asks) < 0.1, asks
    assert (peak - before) / 1024 < 50, f"RSS grew {(peak - before) / 1024:.0f} MB"
    assert short.process.poll() is None


def test_a_head_too_long_in_one_packet_is_431_and_a_long_target_414(short: LiveServer) -> None:
    with connect(short) as s:  # all in one read: measured exactly when the head ends
        s.sendall(ASK + b"Cookie: " + b"a" * 20_000 + b"\r\n\r\n")
        data, _ = until_closed(s)
    assert status_of(data) == 431 and json_error(data)["status"] == 431
    with connect(short) as s:
        s.sendall(b"GET /sparql?query=" + b"A" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        data, _ = until_closed(s)
    assert status_of(data) == 414 and "POST" in str(json_error(data)["message"])
    with connect(short) as s:  # just under the limit still works
        s.sendall(ASK + b"Cookie: " + b"a" * 15_000 + b"\r\n\r\n")
        assert read_response(s)[0] == 200


# --- (2) header count --------------------------------------------------------------------
@pytest.mark.parametrize("packets", ["one packet", "one header per packet"])
def test_too_many_headers_is_431(short: LiveServer, packets: str) -> None:
    headers = [b"X-H-%d: v\r\n" % i for i in range(150)]
    with connect(short) as s:
        if packets == "one packet":
            s.sendall(ASK + b"".join(headers) + b"\r\n")
        else:
            s.sendall(ASK)
            try:
                for header in headers:
                    s.sendall(header)
                    time.sleep(0.001)
            except (ConnectionResetError, BrokenPipeError):
                pass
        data, _ = until_closed(s)
    assert status_of(data) == 431 and json_error(data)["error"] == "Request Header Fields Too Large"


def test_a_hundred_headers_are_allowed(short: LiveServer) -> None:
    with connect(short) as s:  # Host + 99 more: exactly the default limit
        s.sendall(ASK + b"".join(b"X-H-%d: v\r\n" % i for i in range(99)) + b"\r\n")
        assert read_response(s)[0] == 200


# --- (3) time to send the head -----------------------------------------------------------
def test_slowloris_head_is_cut_after_the_header_timeout_while_others_are_served(short: LiveServer) -> None:
    s = connect(short)
    started = time.monotonic()
    s.sendall(ASK)
    closed_after, answer = None, b""
    try:
        for _ in range(int(5 * HEADER / 0.2)):  # a byte every 0.2 s: never idle, never done
            s.sendall(b"X")
            status, seconds = timed_ask(short)
            assert status == 200 and seconds < 0.5
            time.sleep(0.2)
            s.setblocking(False)
            try:
                answer = s.recv(65536)
                closed_after = time.monotonic() - started
                break
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
    except (ConnectionResetError, BrokenPipeError):
        closed_after = time.monotonic() - started
    finally:
        s.close()
    assert closed_after is not None, "the slow head was never cut"
    assert HEADER - 0.1 < closed_after < HEADER + 1, closed_after
    assert answer == b"" or status_of(answer) == 408


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(short: LiveServer) -> None:
    with connect(short) as s:
        data, seconds = until_closed(s)
    assert data == b"" and HEADER - 0.1 < seconds < HEADER + 1


def test_each_keep_alive_request_gets_its_own_header_time(short: LiveServer) -> None:
    with connect(short) as s:  # six requests over ~2 s, twice the header timeout, one connection
        for _ in range(6):
            s.sendall(ASK + b"\r\n")
            assert read_response(s)[0] == 200
            time.sleep(KEEPALIVE / 2)


# --- (4) idle keep-alive -----------------------------------------------------------------
def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(short: LiveServer) -> None:
    with connect(short) as s:
        s.sendall(ASK + b"\r\n")
        assert read_response(s)[0] == 200
        data, seconds = until_closed(s)
    assert data == b"" and KEEPALIVE - 0.1 < seconds < HEADER, seconds


# --- (5) time to send the body -----------------------------------------------------------
POST = (b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
        b"Content-Length: %d\r\n\r\n")


@pytest.mark.parametrize("spelling", ["stops half-way", "a byte every 0.2 s"])
def test_a_body_that_does_not_arrive_in_time_is_cut(short: LiveServer, spelling: str) -> None:
    query = b"ASK {}" + b" " * 194
    with connect(short) as s:
        started = time.monotonic()
        s.sendall(POST % len(query) + query[:100])
        if spelling == "a byte every 0.2 s":
            try:
                for byte in query[100:150]:
                    s.sendall(bytes([byte]))
                    time.sleep(0.2)
                    if time.monotonic() - started > BODY + 1:
                        break
            except (ConnectionResetError, BrokenPipeError):
                pass
        data, _ = until_closed(s, within=BODY + 2)
    seconds = time.monotonic() - started
    assert BODY - 0.1 < seconds < BODY + 1.5, seconds
    assert data == b"" or (status_of(data) == 408 and json_error(data)["status"] == 408), data[:80]
    assert timed_ask(short)[0] == 200


def test_a_slow_body_that_arrives_in_time_is_answered(short: LiveServer) -> None:
    query = b"ASK {}" + b" " * 194
    with connect(short) as s:
        s.sendall(POST % len(query))
        for i in range(0, len(query), 50):  # four pieces over ~0.6 s
            s.sendall(query[i:i + 50])
            time.sleep(0.15)
        assert read_response(s)[0] == 200


# --- (6) connection cap ------------------------------------------------------------------
def open_idle(srv: LiveServer, n: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(n)]


def closed_by_server(sockets: list[socket.socket]) -> int:
    closed = 0
    for s in sockets:
        s.setblocking(False)
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


@pytest.fixture
def capped() -> Iterator[LiveServer]:
    srv = LiveServer(env={"SPACECOOP_MAX_CONNECTIONS": "50"})
    yield srv
    srv.stop()


def test_idle_sockets_past_the_cap_make_room_for_new_clients(capped: LiveServer) -> None:
    pid = capped.process.pid
    baseline = open_fds(pid)
    idle = open_idle(capped, 300)
    try:
        status, seconds = timed_ask(capped)  # a fresh client, on a fresh connection
        assert status == 200 and seconds < 1
        time.sleep(0.2)
        assert open_fds(pid) - baseline <= 50 + 2  # the cap, and a moment's slack
        assert closed_by_server(idle) >= 250
        assert capped.process.poll() is None
    finally:
        for s in idle:
            s.close()


def test_busy_connections_past_the_cap_get_503_and_others_work_after(capped: LiveServer) -> None:
    busy = open_idle(capped, 50)
    try:
        for s in busy:  # headers in, body owed: a request in progress, never evicted
            s.sendall(POST % 10)
        time.sleep(0.5)
        with connect(capped) as s:
            data, _ = until_closed(s)
        assert status_of(data) == 503 and b"retry-after: 1" in data.lower()
    finally:
        for s in busy:
            s.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if timed_ask(capped)[0] == 200:
                break
        except (OSError, ValueError, AssertionError):
            time.sleep(0.1)
    else:
        raise AssertionError("no 200 after the busy connections closed")


def _nofile_256() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_300_idle_sockets_under_a_256_fd_limit_do_not_stop_the_server() -> None:
    srv = LiveServer(preexec=_nofile_256)
    try:
        pid = srv.process.pid
        assert "256" in Path(f"/proc/{pid}/limits").read_text().split("Max open files")[1].split()[0]
        idle = open_idle(srv, 300)
        try:
            for _ in range(3):
                status, seconds = timed_ask(srv)
                assert status == 200 and seconds < 1
            assert open_fds(pid) < 256 - 16
            assert srv.process.poll() is None
        finally:
            for s in idle:
                s.close()
        with httpx.Client(base_url=srv.url, timeout=5) as client:
            assert client.get("/sparql", params={"query": "ASK {}"}).status_code == 200
        srv.log.seek(0)
        assert "Too many open files" not in srv.log.read()
    finally:
        srv.stop()
