"""The query workers' network sandbox (``sandbox.py``), with real processes and real sockets.

A seccomp filter is irreversible, so every check runs in a fresh ``python -c`` child; the
listeners live in this (unfiltered) test process, on loopback only, and record every
connection and datagram, so "refused" also means "nothing arrived".
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spacecoop.engine import sandbox
from spacecoop.engine.sandbox import resolve_endpoints

from ._processes import descendants, seccomp_mode

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or sandbox._platform() is None,
                                reason="the sandbox needs Linux on x86_64 or aarch64")

# Helpers every child has: attempt(fn, ...) is fn's result, or the errno's name ("EACCES").
PRELUDE = """\
import ctypes, errno, json, os, socket, struct, sys, threading, time
from spacecoop.engine.sandbox import forbid_network, resolve_endpoints, restrict_network
ARGS = json.loads(sys.argv[1])
LIBC = ctypes.CDLL(None, use_errno=True)

def attempt(fn, *args):
    try:
        out = fn(*args)
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err.errno))
    return out.decode() if isinstance(out, bytes) else out

def tcp(host, port, family=socket.AF_INET):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(b"ping")
        return s.recv(100)

def udp(host, port, payload, how="sendto"):
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        if how == "sendto":
            return s.sendto(payload, (host, port))
        if how == "sendmsg":
            return s.sendmsg([payload], [], 0, (host, port))
        s.connect((host, port))  # then no destination: send() and sendmsg() need no decision
        return s.send(payload) + s.sendmsg([payload])

def sockaddr_in(port, family=socket.AF_INET):
    return struct.pack("=H", family) + struct.pack("!H4s8x", port, socket.inet_aton("127.0.0.1"))

class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

class MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(IoVec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]

class MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", MsgHdr), ("len", ctypes.c_uint)]

def sendmmsg(messages):
    # sendmmsg(2) (Python has no wrapper): one UDP datagram per (payload, port) on 127.0.0.1
    keep = []
    vec = (MMsgHdr * len(messages))()
    for i, (payload, port) in enumerate(messages):
        data, name = ctypes.create_string_buffer(payload), ctypes.create_string_buffer(sockaddr_in(port))
        iov = IoVec(ctypes.addressof(data), len(payload))
        keep += [data, name, iov]
        vec[i].hdr.name, vec[i].hdr.namelen = ctypes.addressof(name), 16
        vec[i].hdr.iov, vec[i].hdr.iovlen = ctypes.pointer(iov), 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        n = LIBC.sendmmsg(s.fileno(), vec, len(messages), 0)
        if n < 0:
            raise OSError(ctypes.get_errno(), "sendmmsg")
        return n

def raw_sendto(name, payload=b"raw"):
    # sendto(2) with a hand-made sockaddr (e.g. AF_UNSPEC, which IPv4 UDP takes as AF_INET)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        n = LIBC.sendto(s.fileno(), payload, len(payload), 0, name, len(name))
        if n < 0:
            raise OSError(ctypes.get_errno(), "sendto")
        return n

def done(**facts):
    print(json.dumps(facts))
"""


def run_child(body: str, **args: Any) -> dict[str, Any]:
    """Run ``body`` (after PRELUDE) in a fresh interpreter; its last output line is a JSON object."""
    code = PRELUDE + textwrap.dedent(body)
    out = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


# ===================================================================================
# Loopback listeners that record what reaches them
# ===================================================================================
class Listener:
    """A TCP server on a loopback address: records what each connection sent, answers ``reply``."""

    def __init__(self, host: str = "127.0.0.1", reply: bytes = b"pong") -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.reply = reply
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # ends the accept() under way now, not at its timeout
        self._thread.join(2)
        self.sock.close()


class Receiver:
    """A UDP socket on a loopback address; ``datagrams()`` drains what has arrived."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def datagrams(self) -> list[bytes]:
        time.sleep(0.05)  # loopback delivery is immediate; this only covers scheduling
        out = []
        for _ in range(1000):
            try:
                out.append(self.sock.recv(65536))
            except BlockingIOError:
                break
        return out

    def close(self) -> None:
        self.sock.close()


SPARQL_JSON = b'{"head":{"vars":["s"]},"results":{"bindings":[]}}'
HTTP_SPARQL = (b"HTTP/1.1 200 OK\r\nContent-Type: application/sparql-results+json\r\nConnection: close\r\n"
               b"Content-Length: " + str(len(SPARQL_JSON)).encode() + b"\r\n\r\n" + SPARQL_JSON)


@pytest.fixture
def tcp_listener() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(host: str = "127.0.0.1", reply: bytes = b"pong") -> Listener:
        made.append(Listener(host, reply))
        return made[-1]

    yield make
    for lst in made:
        lst.close()


@pytest.fixture
def udp_receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(host: str = "127.0.0.1", port: int = 0) -> Receiver:
        made.append(Receiver(host, port))
        return made[-1]

    yield make
    for rcv in made:
        rcv.close()


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


# ===================================================================================
# resolve_endpoints
# ===================================================================================
def test_endpoints_are_resolved_with_default_ports() -> None:
    assert resolve_endpoints(["https://192.0.2.1/sparql", "http://[::ffff:192.0.2.2]:8080"]) == (
        ("192.0.2.1", 443), ("192.0.2.2", 8080))
    assert ("127.0.0.1", 7878) in resolve_endpoints(["http://localhost:7878/query"])  # /etc/hosts, no DNS
    for bad in ("ftp://192.0.2.1/", "http:///no-host", "http://192.0.2.1:99999/"):
        with pytest.raises(ValueError):
            resolve_endpoints([bad])


def test_nameservers_come_from_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# nameserver 192.0.2.9\nsearch example.org\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n"
                    "nameserver not-an-address\n")
    assert sandbox._nameservers(str(conf)) == ["10.0.0.2", "fe80::1%eth0"]
    assert sandbox._nameservers(str(tmp_path / "missing")) == ["127.0.0.1"]  # glibc's default


# ===================================================================================
# restrict_network: TCP
# ===================================================================================
def test_the_allowed_endpoint_is_reached_and_others_are_not(tcp_listener: Callable[..., Listener]) -> None:
    allowed, other = tcp_listener(), tcp_listener()
    out = run_child("""
        before = attempt(tcp, "127.0.0.1", ARGS["other"])  # no filter yet: this one does connect
        go, threaded = threading.Event(), []
        def in_thread():  # an older thread (it gets the filter too) and a newer one, each with its own tid
            go.wait(10)
            threaded.append(attempt(tcp, "127.0.0.1", ARGS["other"]))
            threaded.append(attempt(tcp, "127.0.0.1", ARGS["allowed"]))
        older = threading.Thread(target=in_thread)
        older.start()
        ok = restrict_network([("127.0.0.1", ARGS["allowed"])])
        go.set(); older.join()
        newer = threading.Thread(target=in_thread)
        newer.start(); newer.join()
        done(ok=ok, before=before, allowed=attempt(tcp, "127.0.0.1", ARGS["allowed"]), threaded=threaded,
             other=attempt(tcp, "127.0.0.1", ARGS["other"]),
             any_address=attempt(tcp, "0.0.0.0", ARGS["allowed"]),  # 0.0.0.0 means this host: not listed
             seccomp=open("/proc/self/status").read().split("Seccomp:")[1].split()[0])
    """, allowed=allowed.port, other=other.port)
    assert out == {"ok": True, "before": "pong", "allowed": "pong", "threaded": ["EACCES", "pong"] * 2,
                   "other": "EACCES", "any_address": "EACCES", "seccomp": "2"}
    assert allowed.received == [b"ping"] * 3
    assert other.received == [b"ping"], "only the connection made before the filter"


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_and_ipv4_mapped_destinations(tcp_listener: Callable[..., Listener]) -> None:
    v4, v4_other, v6, v6_other = tcp_listener(), tcp_listener(), tcp_listener("::1"), tcp_listener("::1")
    out = run_child("""
        assert restrict_network([("127.0.0.1", ARGS["v4"]), ("::1", ARGS["v6"])])
        six = socket.AF_INET6
        done(v6=attempt(tcp, "::1", ARGS["v6"], six), v6_other=attempt(tcp, "::1", ARGS["v6_other"], six),
             mapped=attempt(tcp, "::ffff:127.0.0.1", ARGS["v4"], six),
             mapped_other=attempt(tcp, "::ffff:127.0.0.1", ARGS["v4_other"], six),
             v6_port_as_v4=attempt(tcp, "127.0.0.1", ARGS["v6"]),
             any6=attempt(tcp, "::", ARGS["v6"], six))  # :: means this host: not listed
    """, v4=v4.port, v4_other=v4_other.port, v6=v6.port, v6_other=v6_other.port)
    assert out == {"v6": "pong", "v6_other": "EACCES", "mapped": "pong", "mapped_other": "EACCES",
                   "v6_port_as_v4": "EACCES", "any6": "EACCES"}
    assert (len(v4.received), len(v6.received), v4_other.received, v6_other.received) == (1, 1, [], [])


def test_an_allow_list_entry_written_ipv4_mapped_covers_the_ipv4_address(tcp_listener: Callable[..., Listener]) -> None:
    allowed = tcp_listener()
    out = run_child("""
        assert restrict_network([("::ffff:127.0.0.1", ARGS["port"])], resolvers=())
        done(v4=attempt(tcp, "127.0.0.1", ARGS["port"]))
    """, port=allowed.port)
    assert out == {"v4": "pong"}


# ===================================================================================
# restrict_network: UDP, sendmsg, sendmmsg
# ===================================================================================
def test_datagrams_go_only_to_the_allowed_address(udp_receiver: Callable[..., Receiver]) -> None:
    allowed, other = udp_receiver(), udp_receiver()
    out = run_child("""
        assert restrict_network([("127.0.0.1", ARGS["allowed"])])
        a, o = ARGS["allowed"], ARGS["other"]
        done(sendto=attempt(udp, "127.0.0.1", a, b"sendto"), sendto_other=attempt(udp, "127.0.0.1", o, b"x1"),
             sendmsg=attempt(udp, "127.0.0.1", a, b"sendmsg", "sendmsg"),
             sendmsg_other=attempt(udp, "127.0.0.1", o, b"x2", "sendmsg"),
             connected=attempt(udp, "127.0.0.1", a, b"connected", "connect"),
             connected_other=attempt(udp, "127.0.0.1", o, b"x3", "connect"),
             sendmmsg=attempt(sendmmsg, [(b"mmsg1", a), (b"mmsg2", a)]),
             sendmmsg_mixed=attempt(sendmmsg, [(b"x4", a), (b"x5", o)]),  # one bad address fails the call
             unspec_other=attempt(raw_sendto, sockaddr_in(o, socket.AF_UNSPEC)),
             unspec=attempt(raw_sendto, sockaddr_in(a, socket.AF_UNSPEC)))
    """, allowed=allowed.port, other=other.port)
    assert out == {"sendto": 6, "sendto_other": "EACCES", "sendmsg": 7, "sendmsg_other": "EACCES",
                   "connected": 18, "connected_other": "EACCES", "sendmmsg": 2, "sendmmsg_mixed": "EACCES",
                   "unspec_other": "EACCES", "unspec": 3}
    assert sorted(allowed.datagrams()) == sorted([b"sendto", b"sendmsg", b"connected", b"connected", b"mmsg1",
                                                  b"mmsg2", b"raw"])
    assert other.datagrams() == []


def test_resolvers_are_reachable_on_port_53_only(udp_receiver: Callable[..., Receiver]) -> None:
    try:
        dns = udp_receiver("127.0.0.1", 53)
    except OSError:
        pytest.skip("cannot bind 127.0.0.1:53 here")
    not_dns = udp_receiver()
    out = run_child("""
        assert restrict_network([], resolvers=["127.0.0.1"])
        done(dns=attempt(udp, "127.0.0.1", 53, b"query"), other=attempt(udp, "127.0.0.1", ARGS["port"], b"x"))
    """, port=not_dns.port)
    assert out == {"dns": 5, "other": "EACCES"}
    assert (dns.datagrams(), not_dns.datagrams()) == ([b"query"], [])
    out = run_child("""
        assert restrict_network([], resolvers=())
        done(dns=attempt(udp, "127.0.0.1", 53, b"query"))
    """)
    assert out == {"dns": "EACCES"}
    assert dns.datagrams() == []


def test_unix_sockets_keep_working(tmp_path: Path) -> None:
    out = run_child("""
        assert restrict_network([])
        a, b = socket.socketpair()
        r, w = os.pipe()
        socket.send_fds(a, [b"fd"], [r])  # sendmsg with SCM_RIGHTS and no address
        msg, fds, _, _ = socket.recv_fds(b, 10, 1)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(ARGS["path"])
        client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        client.sendto(b"dgram", ARGS["path"])
        done(passed=[msg.decode(), len(fds)], dgram=server.recv(10).decode())
    """, path=str(tmp_path / "s"))
    assert out == {"passed": ["fd", 1], "dgram": "dgram"}


# ===================================================================================
# restrict_network: which sockets may exist at all
# ===================================================================================
SOCKET_KINDS = {  # name → (family, type, protocol)
    "netlink": (16, 3, 0),  # AF_NETLINK, SOCK_RAW, NETLINK_ROUTE
    "packet": (17, 3, 0x0300),  # AF_PACKET, SOCK_RAW, ETH_P_ALL (network order)
    "raw4": (2, 3, 1),  # AF_INET, SOCK_RAW, ICMP
    "raw6": (10, 3, 58),  # AF_INET6, SOCK_RAW, ICMPv6
    "ping": (2, 2, 1),  # AF_INET, SOCK_DGRAM, ICMP (unprivileged "ping sockets")
    "sctp": (2, 1, 132),  # AF_INET, SOCK_STREAM, SCTP (which can connect from setsockopt)
    "seqpacket4": (2, 5, 0),  # AF_INET, SOCK_SEQPACKET (SCTP)
    "mptcp": (2, 1, 262),
    "tcp": (2, 1 | 0o4000 | 0o2000000, 0),  # SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC
    "tcp6": (10, 1, 6),
    "udp": (2, 2, 17),
    "udp6": (10, 2, 0),
    "unix_seqpacket": (1, 5, 0),
}


def test_only_unix_tcp_and_udp_sockets_can_be_made() -> None:
    out = run_child("""
        def make(family, kind, protocol):
            socket.socket(family, kind, protocol).close()
            return "ok"
        def io_uring():
            params = ctypes.create_string_buffer(120)
            fd = LIBC.syscall(425, 4, params)  # io_uring_setup(4, &params)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "io_uring_setup")
            os.close(fd)
            return "ok"
        before = {name: attempt(make, *kind) for name, kind in ARGS["kinds"].items()}
        assert restrict_network([])
        after = {name: attempt(make, *kind) for name, kind in ARGS["kinds"].items()}
        pair = attempt(lambda: socket.socketpair(socket.AF_INET) and "ok")
        done(before=before, after=after, io_uring=attempt(io_uring), inet_pair=pair)
    """, kinds=SOCKET_KINDS)
    allowed = {"tcp", "tcp6", "udp", "udp6", "unix_seqpacket"}
    assert out["after"] == {name: "ok" if name in allowed else "EACCES" for name in SOCKET_KINDS}
    assert out["io_uring"] == "EACCES" and out["inet_pair"] == "EACCES"
    if os.geteuid() == 0:  # the filter, not a lack of privilege, refused them
        assert out["before"]["netlink"] == out["before"]["packet"] == out["before"]["raw4"] == "ok"


# ===================================================================================
# The supervisor process
# ===================================================================================
@pytest.mark.parametrize("end", ["exit", "kill"])
def test_the_supervisor_is_unfiltered_and_ends_with_the_worker(end: str, tcp_listener: Callable[..., Listener]) -> None:
    allowed = tcp_listener()
    code = PRELUDE + textwrap.dedent("""
        first = restrict_network([("127.0.0.1", ARGS["port"])])
        again = restrict_network([])  # one listener per process: refused, and nothing left behind
        done(first=first, again=again, connect=attempt(tcp, "127.0.0.1", ARGS["port"]))
        sys.stdout.flush()
        sys.stdin.read()
    """)
    with subprocess.Popen([sys.executable, "-c", code, json.dumps({"port": allowed.port})],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdin is not None
            assert json.loads(proc.stdout.readline()) == {"first": True, "again": False, "connect": "pong"}
            helpers = descendants(proc.pid)
            assert len(helpers) == 1, helpers
            supervisor = helpers[0]
            assert Path(f"/proc/{supervisor}/comm").read_text().strip() == "sandbox-superv"
            assert (seccomp_mode(proc.pid), seccomp_mode(supervisor)) == (2, 0)
            assert len(os.listdir(f"/proc/{supervisor}/fd")) == 4, "stdio (/dev/null) and the listener, nothing else"
            if end == "exit":
                proc.stdin.close()
            else:
                proc.kill()
            proc.wait(10)
        finally:
            proc.kill()

    def running(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    for _ in range(100):
        if not running(supervisor):
            break
        time.sleep(0.05)
    assert not running(supervisor)


def test_without_its_supervisor_the_worker_has_no_network(tcp_listener: Callable[..., Listener]) -> None:
    allowed = tcp_listener()
    out = run_child("""
        import signal
        assert restrict_network([("127.0.0.1", ARGS["port"])])
        before = attempt(tcp, "127.0.0.1", ARGS["port"])
        mine = [int(p) for p in os.listdir("/proc") if p.isdigit()
                and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid())]
        for pid in mine:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        done(before=before, helpers=len(mine), after=attempt(tcp, "127.0.0.1", ARGS["port"]),
             udp=attempt(udp, "127.0.0.1", ARGS["port"], b"x"), unix=attempt(lambda: socket.socketpair() and "ok"))
    """, port=allowed.port)
    assert out == {"helpers": 1, "before": "pong", "after": "ENOSYS", "udp": "ENOSYS", "unix": "ok"}
    assert allowed.received == [b"ping"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the whole suite already runs unprivileged")
def test_it_works_for_an_unprivileged_process(tcp_listener: Callable[..., Listener]) -> None:
    allowed, other = tcp_listener(), tcp_listener()
    out = run_child("""
        os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)
        LIBC.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: as a process started by that user (uid changes clear it)
        caps = open("/proc/self/status").read().split("CapEff:")[1].split()[0]
        done(caps=caps, ok=restrict_network([("127.0.0.1", ARGS["allowed"])]),
             allowed=attempt(tcp, "127.0.0.1", ARGS["allowed"]), other=attempt(tcp, "127.0.0.1", ARGS["other"]))
    """, allowed=allowed.port, other=other.port)
    assert out == {"caps": "0000000000000000", "ok": True, "allowed": "pong", "other": "EACCES"}
    assert other.received == []


# ===================================================================================
# Oxigraph's own SERVICE calls
# ===================================================================================
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_oxigraph_service_calls_reach_only_the_allowed_endpoint(host: str,
                                                                tcp_listener: Callable[..., Listener]) -> None:
    allowed, other = tcp_listener(reply=HTTP_SPARQL), tcp_listener(reply=HTTP_SPARQL)
    endpoints = resolve_endpoints([f"http://{host}:{allowed.port}/sparql"])  # in the "server", as at start
    out = run_child("""
        import pyoxigraph
        assert restrict_network([tuple(pair) for pair in ARGS["endpoints"]])
        def service(port):
            query = f"SELECT * WHERE {{ SERVICE <http://{ARGS['host']}:{port}/sparql> {{ ?s ?p ?o }} }}"
            try:
                return list(pyoxigraph.Store().query(query))
            except Exception as err:
                return "error: " + str(err)
        done(other=service(ARGS["other"]), allowed=service(ARGS["allowed"]))
    """, endpoints=endpoints, host=host, allowed=allowed.port, other=other.port)
    assert out["allowed"] == []
    assert out["other"].startswith("error") and "Permission denied (os error 13)" in out["other"], out
    assert other.received == []
    assert len(allowed.received) == 1 and allowed.received[0].startswith(b"POST /sparql ")


# ===================================================================================
# forbid_network (no allow-list) is unchanged; and the price of a supervised connect
# ===================================================================================
def test_forbid_network_still_allows_only_unix_sockets(tcp_listener: Callable[..., Listener]) -> None:
    lst = tcp_listener()
    out = run_child("""
        assert forbid_network()
        a, b = socket.socketpair()
        a.send(b"ok")
        params = ctypes.create_string_buffer(120)
        uring = LIBC.syscall(425, 4, params)
        done(tcp=attempt(tcp, "127.0.0.1", ARGS["port"]), udp6=attempt(udp, "::1", 53, b"x"),
             unix=b.recv(2).decode(), io_uring=[uring, errno.errorcode[ctypes.get_errno()]])
    """, port=lst.port)
    assert out == {"tcp": "EACCES", "udp6": "EACCES", "unix": "ok", "io_uring": [-1, "EACCES"]}
    assert lst.received == []


def test_a_supervised_connect_costs_well_under_a_millisecond(tcp_listener: Callable[..., Listener]) -> None:
    lst = tcp_listener()
    out = run_child("""
        def connects(n=200):
            times = []
            for _ in range(n):
                s = socket.socket()
                t = time.perf_counter()
                s.connect(("127.0.0.1", ARGS["port"]))
                times.append(time.perf_counter() - t)
                s.close()
            return sorted(times)[n // 2] * 1e6
        plain = connects()
        assert restrict_network([("127.0.0.1", ARGS["port"])])
        done(plain=plain, supervised=connects())
    """, port=lst.port)
    overhead = out["supervised"] - out["plain"]
    print(f"median connect: {out['plain']:.0f} µs unfiltered, {out['supervised']:.0f} µs supervised")
    assert overhead < 2000, out  # loose: a regression guard, not a benchmark (typically tens of µs)
