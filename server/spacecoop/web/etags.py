"""HTTP validators, made one way: ETags from content, and ``If-None-Match`` against them.

A strong tag names exact bytes (a dump file, the JSON-LD context) or everything a
representation is made from (the graph version, the document's path, the variant); a weak
one names a GET answer by its request (``middleware.request_tag``). Both are the first
128 bits of a SHA-256 over the parts, NUL-separated. Content hashed where it is written
(a dump file, as it streams to disk) becomes a tag by ``from_digest``.

>>> strong("v1", "/resource/smile", "ttl") == strong("v1", "/resource/smile", "ttl") != strong("v1", "/x", "ttl")
True
>>> weak(b"v1", "/sparql").startswith('W/"'), from_digest(content_digest(b"abc"))
(True, '"ba7816bf8f01cfea414140de5dae2223"')
>>> matches(b'W/"a", "b"', '"a"', exists=False), matches(b"*", '"a"', exists=False), matches("*", '"a"', exists=True)
(True, False, True)
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request

TAG_CHARS = 32  # hex digits of the digest a tag keeps


def content_digest(*parts: str | bytes) -> str:
    """The hex SHA-256 of ``parts``, NUL-separated (text as UTF-8, a lone surrogate as its byte)."""
    encoded = (p.encode("utf-8", "surrogateescape") if isinstance(p, str) else p for p in parts)
    return hashlib.sha256(b"\0".join(encoded)).hexdigest()


def from_digest(hexdigest: str) -> str:
    """The strong ETag of content whose SHA-256 is ``hexdigest``."""
    return f'"{hexdigest[:TAG_CHARS]}"'


def strong(*parts: str | bytes) -> str:
    """A strong ETag for the representation made from ``parts`` (or of the bytes themselves)."""
    return from_digest(content_digest(*parts))


def weak(*parts: str | bytes) -> str:
    """A weak ETag for what ``parts`` determine (an answer equivalent, not byte for byte)."""
    return "W/" + strong(*parts)


def matches(if_none_match: bytes | str, tag: str, exists: bool) -> bool:
    """``If-None-Match`` against ``tag`` (RFC 9110 §13.1.2, weak comparison: ``W/"x"``
    matches ``"x"``). ``*`` matches only a representation known to ``exist``."""
    header = if_none_match.decode("latin-1") if isinstance(if_none_match, bytes) else if_none_match
    wanted = tag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if (candidate == "*" and exists) or candidate.removeprefix("W/") == wanted:
            return True
    return False


def not_modified(request: Request, tag: str) -> bool:
    """True when the request's ``If-None-Match`` already names ``tag`` (of an existing representation)."""
    inm = request.headers.get("if-none-match")
    return inm is not None and matches(inm, tag, exists=True)


__all__ = ["TAG_CHARS", "content_digest", "from_digest", "matches", "not_modified", "strong", "weak"]
