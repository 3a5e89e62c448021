"""OS-level limits on where a query worker may connect.

The protocol layer refuses ``SERVICE`` after a lexical check, but a lexer that is not
the engine's parser can in principle be fooled (e.g. by text that one of them reads as
an IRI and the other as a ``<`` operator). Oxigraph *does* fetch ``SERVICE`` URLs itself,
so the workers also get a seccomp filter, one of two:

* ``forbid_network()`` (no ``SERVICE`` allow-list): ``socket()`` fails for every address
  family except ``AF_UNIX`` (the worker's pipe to the server already exists). With it, no
  query text can make a worker open a TCP or UDP socket — not even for a DNS lookup.
* ``restrict_network(allowed)`` (an allow-list, its endpoints' addresses computed once by
  ``resolve_endpoints`` in the server): ``socket()`` is limited to Unix, TCP and UDP
  sockets, and every ``connect()`` and every send with a destination address is decided
  by a small supervisor process, which lets it through only to an allowed (address,
  port), a Unix socket, or a nameserver of ``/etc/resolv.conf`` on port 53.

Both deny with ``EACCES`` ("Permission denied (os error 13)" in Oxigraph's messages),
deny io_uring (which could bypass the filtered calls) and foreign syscall ABIs, are
irreversible for the process and are inherited by its children. On kernels or
architectures without the features they report False; the caller decides the fallback.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import gc
import ipaddress
import os
import platform
import select
import signal
import socket
import struct
import sys
import urllib.parse
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Linux constants (linux/filter.h, linux/seccomp.h, linux/audit.h, sys/prctl.h).
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PTRACER = 0x59616D61  # Yama: who may read this process's memory
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_GET_NOTIF_SIZES = 3
_SECCOMP_FILTER_FLAG_TSYNC = 1
_SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
_SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_USER_NOTIF = 0x7FC00000
_SECCOMP_RET_ERRNO = 0x00050000
_SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)
_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp)
_IOCTL_NOTIF_ID_VALID = 0x40082102  # _IOW('!', 2, __u64)
_IOCTL_NOTIF_SET_FLAGS = 0x40082104  # _IOW('!', 4, __u64)
_SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1  # Linux ≥ 6.6: hand the CPU straight to the supervisor and back
_BPF_LD_W_ABS = 0x20
_BPF_ALU_AND_K = 0x54
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_X32_SYSCALL_BIT = 0x40000000
_SOCK_TYPE_MASK = 0xF  # the rest of socket()'s type argument is SOCK_NONBLOCK / SOCK_CLOEXEC
_MAX_SOCKADDR = 128  # sizeof(struct sockaddr_storage): the kernel reads no more
_MSGHDR = struct.Struct("=QI")  # struct msghdr starts with msg_name, msg_namelen (64-bit layout)
_MMSGHDR_SIZE = 64  # struct mmsghdr: a 56-byte msghdr, msg_len, padding
_UIO_MAXIOV = 1024  # sendmmsg() handles at most this many messages per call
_IO_URING_SETUP = 425  # the same number on every architecture here (asm-generic numbering)
_PIDFD_GETFD = 438
_DNS_PORT = 53


@dataclass(frozen=True)
class _Arch:
    """The audit token and syscall numbers of one architecture."""

    audit: int
    socket: int
    socketpair: int
    connect: int
    sendto: int
    sendmsg: int
    sendmmsg: int
    seccomp: int


_ARCHES = {
    "x86_64": _Arch(0xC000003E, socket=41, socketpair=53, connect=42, sendto=44, sendmsg=46, sendmmsg=307,
                    seccomp=317),
    "aarch64": _Arch(0xC00000B7, socket=198, socketpair=199, connect=203, sendto=206, sendmsg=211, sendmmsg=269,
                     seccomp=277),
}


# ===================================================================================
# BPF programs and their installation (shared by both filters)
# ===================================================================================
class _SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


# An instruction whose jump targets are offsets (0: the next one) or label names.
_Insn = tuple[int, int | str, int | str, int]


def _ld(offset: int) -> _Insn:
    return (_BPF_LD_W_ABS, 0, 0, offset)


def _arg(index: int, high: bool = False) -> int:
    """Offset in seccomp_data of a syscall argument's low (or high) 32 bits (little-endian)."""
    return 16 + 8 * index + (4 if high else 0)


def _jeq(k: int, jt: int | str, jf: int | str = 0) -> _Insn:
    return (_BPF_JEQ_K, jt, jf, k)


def _assemble(source: Sequence[_Insn | str]) -> list[tuple[int, int, int, int]]:
    """Resolve label names (the strings in ``source``) to relative jumps.

    >>> _assemble([_jeq(7, "yes"), (_BPF_RET_K, 0, 0, 0), "yes", (_BPF_RET_K, 0, 0, 1)])
    [(21, 1, 0, 7), (6, 0, 0, 0), (6, 0, 0, 1)]
    """
    labels: dict[str, int] = {}
    code: list[_Insn] = []
    for item in source:
        if isinstance(item, str):
            labels[item] = len(code)
        else:
            code.append(item)

    def offset(target: int | str, pc: int) -> int:
        return target if isinstance(target, int) else labels[target] - pc - 1

    return [(op, offset(jt, pc), offset(jf, pc), k) for pc, (op, jt, jf, k) in enumerate(code)]


def _program(arch: _Arch, rules: Sequence[_Insn | str]) -> list[tuple[int, int, int, int]]:
    """A whole filter: foreign ABIs and io_uring denied, then ``rules``; labels allow/deny/notify end it."""
    return _assemble([
        _ld(4),  # A = seccomp_data.arch
        _jeq(arch.audit, 0, "deny"),  # foreign ABI (e.g. i386 on x86_64)
        _ld(0),  # A = seccomp_data.nr
        (_BPF_JGE_K, "deny", 0, _X32_SYSCALL_BIT),  # x32 ABI calls
        _jeq(_IO_URING_SETUP, "deny"),
        *rules,
        "allow", (_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
        "deny", (_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno.EACCES),
        "notify", (_BPF_RET_K, 0, 0, _SECCOMP_RET_USER_NOTIF),
    ])


def _forbid_rules(arch: _Arch) -> list[_Insn | str]:
    """socket() only for AF_UNIX (A holds the syscall number)."""
    return [_jeq(arch.socket, 0, "allow"), _ld(_arg(0)), _jeq(socket.AF_UNIX, "allow", "deny")]


def _restrict_rules(arch: _Arch) -> list[_Insn | str]:
    """Unix/TCP/UDP sockets only; connect and sends with an address go to the supervisor."""
    inet_protocols = (("stream", socket.IPPROTO_TCP), ("dgram", socket.IPPROTO_UDP))
    return [
        _jeq(arch.connect, "notify"),
        _jeq(arch.sendmsg, "notify"),
        _jeq(arch.sendmmsg, "notify"),
        _jeq(arch.sendto, "sendto"),
        _jeq(arch.socketpair, "socketpair"),
        _jeq(arch.socket, 0, "allow"),
        _ld(_arg(0)),
        _jeq(socket.AF_UNIX, "allow"),
        _jeq(socket.AF_INET, "inet"),
        _jeq(socket.AF_INET6, "inet", "deny"),
        "inet",  # no raw, packet, SCTP (it can connect from setsockopt), ICMP or MPTCP sockets
        _ld(_arg(1)),
        (_BPF_ALU_AND_K, 0, 0, _SOCK_TYPE_MASK),
        _jeq(socket.SOCK_STREAM, "stream"),
        _jeq(socket.SOCK_DGRAM, "dgram", "deny"),
        *(insn for label, protocol in inet_protocols
          for insn in (label, _ld(_arg(2)), _jeq(0, "allow"), _jeq(protocol, "allow", "deny"))),
        "sendto",  # sendto(fd, buf, len, flags, dest_addr, addrlen): a NULL dest_addr needs no decision
        _ld(_arg(4)),
        _jeq(0, 0, "notify"),
        _ld(_arg(4, high=True)),
        _jeq(0, "allow", "notify"),
        "socketpair",
        _ld(_arg(0)),
        _jeq(socket.AF_UNIX, "allow", "deny"),
    ]


def _platform() -> _Arch | None:
    if platform.system() != "Linux" or struct.calcsize("P") != 8 or sys.byteorder != "little":
        return None
    return _ARCHES.get(platform.machine())


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.syscall.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_void_p)
    libc.ioctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)
    libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    libc.process_vm_readv.restype = ctypes.c_ssize_t
    libc.process_vm_readv.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p,
                                      ctypes.c_ulong, ctypes.c_ulong)
    return libc


def _install(arch: _Arch, rules: Sequence[_Insn | str], flag_choices: Sequence[int] = (0,)) -> int:
    """Install a filter in this thread (and later children), trying each flag set in turn.

    Returns the seccomp() result of the first that works (0, or a listener fd), else -1.
    """
    libc = _libc()
    code = _program(arch, rules)
    prog = _SockFprog(len(code), (_SockFilter * len(code))(*(_SockFilter(*ins) for ins in code)))
    # NO_NEW_PRIVS lets an unprivileged process install a filter (and is good hygiene anyway).
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return -1
    for flags in flag_choices:
        fd = libc.syscall(arch.seccomp, _SECCOMP_SET_MODE_FILTER, flags, ctypes.addressof(prog))
        if fd >= 0:
            return int(fd)
    return -1


def forbid_network() -> bool:
    """Make every later ``socket()`` call of this process (other than AF_UNIX) fail.

    Returns True when the filter is in place, False when this platform cannot do it.
    """
    arch = _platform()
    return arch is not None and _install(arch, _forbid_rules(arch)) == 0


# ===================================================================================
# The allow-list: which (address, port) pairs a worker may reach
# ===================================================================================
def resolve_endpoints(urls: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """The (IP address, port) pairs that the endpoints at these URLs are reached at.

    A host name is resolved with ``getaddrinfo`` (every A and AAAA answer; it raises
    ``socket.gaierror`` when there is none), an IP literal is taken as it is; the port is
    the URL's, or 80 / 443 by scheme (other schemes are a ValueError); addresses are in
    canonical form, an IPv4-mapped IPv6 one as its IPv4 address. Meant to be called
    once, in the server (which has network), to compute the argument of ``restrict_network``.

    >>> resolve_endpoints(["http://192.0.2.7/sparql", "https://[2001:DB8::1]:8443/q", "http://192.0.2.7:80/x"])
    (('192.0.2.7', 80), ('2001:db8::1', 8443))
    """
    pairs: dict[tuple[str, int], None] = {}
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        default = {"http": 80, "https": 443}.get(parts.scheme.lower())
        if default is None or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        port = parts.port or default
        try:
            addresses = [parts.hostname] if ipaddress.ip_address(parts.hostname) else []
        except ValueError:
            infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
            addresses = [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
        pairs.update(((str(ipaddress.ip_address(_packed(address))), port), None) for address in addresses)
    return tuple(pairs)


def _packed(address: str) -> bytes:
    """An address's bytes, an IPv4-mapped IPv6 address as its IPv4 one (scope ids dropped).

    >>> _packed("::ffff:127.0.0.1") == _packed("127.0.0.1") == bytes([127, 0, 0, 1])
    True
    """
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.packed


def _nameservers(path: str = "/etc/resolv.conf") -> list[str]:
    """The resolver addresses the C library will use (127.0.0.1 when none are listed, as glibc)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    found = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                _packed(words[1])
            except ValueError:
                continue
            found.append(words[1])
    return found or ["127.0.0.1"]


@dataclass(frozen=True)
class _Policy:
    """Where a supervised call may send: the decision of the supervisor, from the sockaddr bytes."""

    endpoints: frozenset[tuple[bytes, int]]
    resolvers: frozenset[bytes]

    def allows(self, sockaddr: bytes, connecting: bool) -> bool:
        r"""Whether a connect (or a send) to this ``struct sockaddr`` may go ahead.

        >>> p = _Policy(frozenset({(bytes([127, 0, 0, 1]), 8080)}), frozenset({bytes([10, 0, 0, 53])}))
        >>> v4 = lambda ip, port: struct.pack("=H", socket.AF_INET) + struct.pack("!H4s8x", port, bytes(ip))
        >>> p.allows(v4([127, 0, 0, 1], 8080), True), p.allows(v4([127, 0, 0, 1], 8081), True)
        (True, False)
        >>> p.allows(v4([10, 0, 0, 53], 53), False), p.allows(v4([10, 0, 0, 53], 80), False)
        (True, False)
        >>> mapped = bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1])
        >>> p.allows(struct.pack("=H", socket.AF_INET6) + struct.pack("!HI16sI", 8080, 0, mapped, 0), True)
        True
        >>> p.allows(struct.pack("=H", socket.AF_UNIX) + b"/run/x", True), p.allows(b"\x10\x00" + bytes(14), True)
        (True, False)
        """
        if len(sockaddr) < 2:
            return False
        family = struct.unpack_from("=H", sockaddr)[0]
        if family == socket.AF_UNIX:
            return True
        if family == socket.AF_UNSPEC:
            if connecting or len(sockaddr) < 16:  # connect(AF_UNSPEC) only dissolves an association
                return True
            family = socket.AF_INET  # IPv4 UDP sends take an AF_UNSPEC address as an AF_INET one
        if family == socket.AF_INET and len(sockaddr) >= 16:
            port, address = struct.unpack_from("!H4s", sockaddr, 2)
        elif family == socket.AF_INET6 and len(sockaddr) >= 24:
            port, address = struct.unpack_from("!H4x16s", sockaddr, 2)
            if address[:12] == bytes(10) + b"\xff\xff":  # IPv4-mapped: the kernel sends over IPv4
                address = address[12:]
        else:
            return False
        return (address, port) in self.endpoints or (port == _DNS_PORT and address in self.resolvers)


# ===================================================================================
# The supervisor process
# ===================================================================================
class _SeccompData(ctypes.Structure):
    _fields_ = (("nr", ctypes.c_int), ("arch", ctypes.c_uint32), ("instruction_pointer", ctypes.c_uint64),
                ("args", ctypes.c_uint64 * 6))


class _Notif(ctypes.Structure):
    _fields_ = (("id", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("data", _SeccompData))


class _NotifResp(ctypes.Structure):
    _fields_ = (("id", ctypes.c_uint64), ("val", ctypes.c_int64), ("error", ctypes.c_int32),
                ("flags", ctypes.c_uint32))


class _NotifSizes(ctypes.Structure):
    _fields_ = (("notif", ctypes.c_uint16), ("resp", ctypes.c_uint16), ("data", ctypes.c_uint16))


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


class _Memory:
    """Reads another process's memory (``process_vm_readv``) through one reusable buffer."""

    def __init__(self) -> None:
        self._buf = ctypes.create_string_buffer(_UIO_MAXIOV * _MMSGHDR_SIZE)
        self._local, self._remote = _IoVec(ctypes.addressof(self._buf), 0), _IoVec(0, 0)
        self._iovs = ctypes.byref(self._local), ctypes.byref(self._remote)
        self._readv = _libc().process_vm_readv
        self.pid = 0

    def read(self, address: int, size: int) -> bytes | None:
        """``size`` bytes at ``address`` in process (thread) ``pid``; None when they cannot all be read."""
        if size == 0:
            return b""
        self._local.len = self._remote.len = size
        self._remote.base = address
        got = self._readv(self.pid, self._iovs[0], 1, self._iovs[1], 1, 0)
        return ctypes.string_at(self._buf, size) if got == size else None


def _decide(arch: _Arch, policy: _Policy, nr: int, args: Sequence[int],
            read: Callable[[int, int], bytes | None]) -> bool:
    """Whether a supervised syscall may go ahead; ``read(address, size)`` reads the caller's memory."""

    def destination(address: int, length: int, connecting: bool = False) -> bool:
        length &= 0xFFFFFFFF
        if address == 0 or length == 0:  # no destination (a connected socket): nothing to decide
            return not connecting
        sockaddr = read(address, min(length, _MAX_SOCKADDR))
        return sockaddr is not None and policy.allows(sockaddr, connecting)

    def messages(address: int, count: int, stride: int) -> bool:
        raw = read(address, count * stride)
        return raw is not None and all(destination(*_MSGHDR.unpack_from(raw, i * stride)) for i in range(count))

    if nr == arch.connect:
        return destination(args[1], args[2], connecting=True)
    if nr == arch.sendto:
        return destination(args[4], args[5])
    if nr == arch.sendmsg:
        return messages(args[1], 1, _MSGHDR.size)
    if nr == arch.sendmmsg:
        return messages(args[1], min(args[2] & 0xFFFFFFFF, _UIO_MAXIOV), _MMSGHDR_SIZE)
    return False


def _serve(listener: int, worker: int, arch: _Arch, policy: _Policy, sizes: _NotifSizes) -> None:
    """Answer the worker's notifications until it (or the listener) is gone."""
    libc = _libc()
    notif_buf = ctypes.create_string_buffer(max(sizes.notif, ctypes.sizeof(_Notif)))
    resp_buf = ctypes.create_string_buffer(max(sizes.resp, ctypes.sizeof(_NotifResp)))
    notif, resp = _Notif.from_buffer(notif_buf), _NotifResp.from_buffer(resp_buf)
    memory = _Memory()
    libc.ioctl(listener, _IOCTL_NOTIF_SET_FLAGS, _SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)  # optional: just faster
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    while True:
        events = poller.poll(1000)
        if os.getppid() != worker or any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in events):
            return  # every filtered task has exited (or the worker has: PDEATHSIG is the other guard)
        if not events:
            continue
        ctypes.memset(notif_buf, 0, len(notif_buf))
        if libc.ioctl(listener, _IOCTL_NOTIF_RECV, notif_buf) != 0:
            if ctypes.get_errno() in (errno.EINTR, errno.ENOENT):  # the caller went away meanwhile
                continue
            return
        memory.pid = notif.pid
        data = notif.data
        allowed = data.arch == arch.audit and _decide(arch, policy, data.nr, data.args, memory.read)
        # The id is still valid: the caller is still waiting, so ``pid`` was its thread during the read.
        if libc.ioctl(listener, _IOCTL_NOTIF_ID_VALID, ctypes.byref(ctypes.c_uint64(notif.id))) != 0:
            continue
        ctypes.memset(resp_buf, 0, len(resp_buf))
        resp.id = notif.id
        resp.flags = _SECCOMP_USER_NOTIF_FLAG_CONTINUE if allowed else 0
        resp.error = 0 if allowed else -errno.EACCES
        if libc.ioctl(listener, _IOCTL_NOTIF_SEND, resp_buf) != 0 and ctypes.get_errno() != errno.ENOENT:
            resp.flags, resp.error = 0, -errno.EACCES  # never leave a call waiting
            libc.ioctl(listener, _IOCTL_NOTIF_SEND, resp_buf)


def _pidfd_getfd(pidfd: int, fd: int) -> int:
    return int(_libc().syscall(_PIDFD_GETFD, pidfd, fd, None))


def _read_exactly(fd: int, size: int, timeout_ms: int = -1) -> bytes:
    data = b""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while len(data) < size and poller.poll(timeout_ms):
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _supervisor_main(worker: int, inbox: int, outbox: int, arch: _Arch, policy: _Policy,
                     sizes: _NotifSizes) -> None:
    """The forked supervisor: handshake (memory and fd access to the worker), then ``_serve``."""
    gc.disable()  # no collection touching (and so copying) the pages shared with the worker
    libc = _libc()
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    comm = ctypes.create_string_buffer(b"sandbox-superv")
    libc.prctl(_PR_SET_NAME, ctypes.addressof(comm), 0, 0, 0)
    if os.getppid() != worker:
        return
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    for name in os.listdir("/proc/self/fd"):  # drop the worker's other descriptors (its pipe to the server…)
        if int(name) > 2 and int(name) not in (inbox, outbox):
            with contextlib.suppress(OSError):
                os.close(int(name))
    # 1. probe: can this process read the worker's memory and take its descriptors?
    probe = _read_exactly(inbox, 28)
    if len(probe) != 28:
        return
    address, fd_number, magic = struct.unpack("=Qi16s", probe)
    pidfd = os.pidfd_open(worker)
    copy = _pidfd_getfd(pidfd, fd_number)
    memory = _Memory()
    memory.pid = worker
    ok = copy >= 0 and memory.read(address, 16) == magic
    if copy >= 0:
        os.close(copy)
    os.write(outbox, b"1" if ok else b"0")
    # 2. the listener, once the worker has installed its filter
    message = _read_exactly(inbox, 4)
    if not ok or len(message) != 4:
        return
    listener = _pidfd_getfd(pidfd, struct.unpack("=i", message)[0])
    os.write(outbox, b"1" if listener >= 0 else b"0")
    os.close(pidfd)
    if listener >= 0:
        os.close(inbox)
        os.close(outbox)
        _serve(listener, worker, arch, policy, sizes)


def restrict_network(allowed: Sequence[tuple[str, int]], *, resolvers: Sequence[str] | None = None) -> bool:
    """Let this process (a query worker) connect only to ``allowed`` (address, port) pairs.

    After it returns True, ``socket()`` works only for AF_UNIX, and for AF_INET/AF_INET6
    stream (TCP) and datagram (UDP) sockets — no netlink, packet, raw, ICMP or SCTP socket;
    io_uring is denied; every ``connect()``, and every ``sendto``/``sendmsg``/``sendmmsg``
    that names a destination, fails with EACCES unless the destination is a Unix socket,
    an (address, port) of ``allowed`` (an IPv4-mapped IPv6 address counts as its IPv4
    address), or port 53 of a resolver. Sends on an already connected socket need no
    decision. (Oxigraph 0.5 follows no redirects; a client that did would be refused too.)

    ``resolvers`` default to the nameservers of ``/etc/resolv.conf``, so that the allowed
    *host names* still resolve. That is the one residual: a query that got past the lexical
    check can make the worker look a name up, i.e. send a DNS query to the resolver (which
    may forward it) — but not connect to the name's address. Pass ``resolvers=()`` when
    every allowed endpoint is an IP literal. Addresses are those resolved when the list was
    made (``resolve_endpoints``): an endpoint that moves to an address not in the list is
    refused until the server restarts.

    The decisions are made by a supervisor: a small process forked from this one before
    the filter exists (so it is not filtered), which receives each call through
    SECCOMP_RET_USER_NOTIF, reads the sockaddr from this process's memory and lets the call
    continue (SECCOMP_USER_NOTIF_FLAG_CONTINUE) or fails it. It exits when this process
    does. If it is gone, supervised calls fail (ENOSYS): the filter fails closed.
    The kernel reads the sockaddr again after the decision; another *thread* changing it
    in between could pass a different address (the documented limit of CONTINUE). That
    needs code running in the worker; a client here controls only query text.

    Call it from the thread that stays (PDEATHSIG follows the forking thread), before the
    worker starts threads of its own (those that exist get the filter when the kernel can
    synchronise them, Linux ≥ 5.7), and at most once (a process can have one listener).
    Returns False where it cannot be done: not Linux x86_64/aarch64, a kernel before 5.6
    (pidfd_getfd; CONTINUE needs 5.5), seccomp or memory access to the worker refused, or
    a filter with a listener already in place, or a worker that is not dumpable (a process
    that changed its uid, e.g. root dropping privileges, is not: PR_SET_DUMPABLE; ptrace
    access is then refused to the same user). Then no filter is installed — except in the
    unlikely case that the supervisor vanished after installation: then it is, and every
    supervised call fails. ``ValueError`` for an address that is not an IP address.
    """
    arch = _platform()
    policy = _Policy(frozenset((_packed(address), int(port)) for address, port in allowed),
                     frozenset(_packed(a) for a in (_nameservers() if resolvers is None else resolvers)))
    if arch is None or not hasattr(os, "pidfd_open"):
        return False
    libc = _libc()
    sizes = _NotifSizes()
    if libc.syscall(arch.seccomp, _SECCOMP_GET_NOTIF_SIZES, 0, ctypes.addressof(sizes)) != 0:
        return False  # no user notification (Linux < 5.0, or seccomp() itself filtered)
    inbox, to_supervisor = os.pipe()  # worker → supervisor
    from_supervisor, outbox = os.pipe()  # supervisor → worker
    worker = os.getpid()
    try:
        with warnings.catch_warnings():  # Python ≥ 3.12 warns of fork() with threads: the child runs only this module
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:  # e.g. no memory for the copy under strict overcommit
        for fd in (inbox, to_supervisor, from_supervisor, outbox):
            os.close(fd)
        return False
    if pid == 0:  # the supervisor: it never returns into the worker's code
        try:
            _supervisor_main(worker, inbox, outbox, arch, policy, sizes)
        finally:
            os._exit(0)
    os.close(inbox)
    os.close(outbox)
    listener, ready = -1, False
    try:
        libc.prctl(_PR_SET_PTRACER, pid, 0, 0, 0)  # Yama (ptrace_scope 1): the supervisor may read us
        magic = os.urandom(16)
        probe = ctypes.create_string_buffer(magic, 16)
        os.write(to_supervisor, struct.pack("=Qi16s", ctypes.addressof(probe), to_supervisor, magic))
        if _read_exactly(from_supervisor, 1, 5000) != b"1":
            return False
        synced = _SECCOMP_FILTER_FLAG_NEW_LISTENER | _SECCOMP_FILTER_FLAG_TSYNC | _SECCOMP_FILTER_FLAG_TSYNC_ESRCH
        listener = _install(arch, _restrict_rules(arch), (synced, _SECCOMP_FILTER_FLAG_NEW_LISTENER))
        if listener < 0:
            return False
        os.write(to_supervisor, struct.pack("=i", listener))
        ready = _read_exactly(from_supervisor, 1, 5000) == b"1"
        return ready
    finally:
        for fd in (to_supervisor, from_supervisor, listener):
            if fd >= 0:
                os.close(fd)  # the supervisor now holds the only listener: it alone answers
        if not ready:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


__all__ = ["forbid_network", "resolve_endpoints", "restrict_network"]
