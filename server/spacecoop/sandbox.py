"""An OS-level guarantee that a query worker makes no network connection.

The protocol layer refuses ``SERVICE`` after a lexical check, but a lexer that is not
the engine's parser can in principle be fooled (e.g. by text that one of them reads as
an IRI and the other as a ``<`` operator). Oxigraph *does* fetch ``SERVICE`` URLs itself,
so the workers also get a seccomp filter that makes ``socket()`` fail for every address
family except ``AF_UNIX`` (the worker's pipe to the server already exists). With it, no
query text can make a worker open a TCP or UDP socket — not even for a DNS lookup.

The filter is installed only when no ``SERVICE`` allow-list is configured (federation
needs the network). It is irreversible for the process and inherited by its children.
On kernels or architectures without seccomp the call reports False and the lexical
check remains the only guard.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import platform
import struct

# Linux constants (linux/filter.h, linux/seccomp.h, linux/audit.h, sys/prctl.h).
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_AF_UNIX = 1
_X32_SYSCALL_BIT = 0x40000000

# machine → (audit arch token, socket syscall number, io_uring_setup syscall number)
_ARCHES = {
    "x86_64": (0xC000003E, 41, 425),
    "aarch64": (0xC00000B7, 198, 425),
}


class _SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


def _program(arch: int, socket_nr: int, uring_nr: int) -> list[tuple[int, int, int, int]]:
    """The BPF program: deny non-Unix sockets and io_uring (which could bypass socket())."""
    deny = _SECCOMP_RET_ERRNO | errno.EACCES
    return [
        (_BPF_LD_W_ABS, 0, 0, 4),  # A = seccomp_data.arch
        (_BPF_JEQ_K, 1, 0, arch),  # foreign ABI (e.g. i386 on x86_64): deny below
        (_BPF_RET_K, 0, 0, deny),
        (_BPF_LD_W_ABS, 0, 0, 0),  # A = seccomp_data.nr
        (_BPF_JGE_K, 0, 1, _X32_SYSCALL_BIT),  # x32 ABI calls: deny
        (_BPF_RET_K, 0, 0, deny),
        (_BPF_JEQ_K, 0, 1, uring_nr),
        (_BPF_RET_K, 0, 0, deny),
        (_BPF_JEQ_K, 1, 0, socket_nr),
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
        (_BPF_LD_W_ABS, 0, 0, 16),  # A = low word of args[0] (the address family)
        (_BPF_JEQ_K, 0, 1, _AF_UNIX),
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
        (_BPF_RET_K, 0, 0, deny),
    ]


def forbid_network() -> bool:
    """Make every later ``socket()`` call of this process (other than AF_UNIX) fail.

    Returns True when the filter is in place, False when this platform cannot do it.
    """
    machine = platform.machine()
    if platform.system() != "Linux" or machine not in _ARCHES or struct.calcsize("P") != 8:
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    code = _program(*_ARCHES[machine])
    filters = (_SockFilter * len(code))(*(_SockFilter(*ins) for ins in code))
    prog = _SockFprog(len(code), filters)
    # NO_NEW_PRIVS lets an unprivileged process install a filter (and is good hygiene anyway).
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return bool(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0)


__all__ = ["forbid_network"]
