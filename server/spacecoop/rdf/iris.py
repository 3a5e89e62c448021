"""The one mapping between the IRIs the graph mints and the paths this server answers on.

Data is written against ``config.CANONICAL_BASE`` and the loader rebases it to
``config.BASE`` (``SPACECOOP_BASE``); the server then answers for every IRI under that
base, so ``{BASE}resource/smile`` is served at ``/resource/smile``. Pages link with local
paths (they work on any host and in tests), RDF keeps the IRIs.

>>> base = "https://spacecoop.example/"
>>> iri_to_path("https://spacecoop.example/resource/smile", base)
'/resource/smile'
>>> iri_to_path("https://spacecoop.example/ontology#Mission", base)
'/ontology#Mission'
>>> iri_to_path("https://www.wikidata.org/wiki/Q1", base) is None
True
>>> path_to_iri("/resource/smile", "https://kg.example.org/")
'https://kg.example.org/resource/smile'
>>> entity_iri("smile", base), slug_of("https://spacecoop.example/resource/smile", base)
('https://spacecoop.example/resource/smile', 'smile')
>>> rebase("https://spacecoop.example/ontology#Mission", "https://kg.example.org/")
'https://kg.example.org/ontology#Mission'
"""

from __future__ import annotations

import re

from spacecoop import config

RESOURCE = "resource/"
ONTOLOGY = "ontology"
# Slugs as the model fixes them (docs/model.md §1); user data may be looser, so the
# router only uses this to decide what to suggest, never to refuse a path outright.
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def rebase(iri: str, base: str = config.BASE) -> str:
    """A canonical IRI moved to ``base`` (what the loader does to every term)."""
    if iri.startswith(config.CANONICAL_BASE):
        return base + iri[len(config.CANONICAL_BASE):]
    return iri


def iri_to_path(iri: str, base: str = config.BASE) -> str | None:
    """The local path that dereferences ``iri``, or None if the IRI is not ours."""
    if not iri.startswith(base):
        return None
    return "/" + iri[len(base):]


def path_to_iri(path: str, base: str = config.BASE) -> str:
    """The IRI this server answers for at ``path`` (which starts with ``/``)."""
    return base + path.lstrip("/")


def uri_path(path: str) -> str:
    """``path`` as a URI (RFC 3987 §3.1): its non-ASCII characters percent-encoded as UTF-8,
    for an HTTP header, which holds ASCII only; everything else is kept as it is.

    >>> uri_path("/graph/航天 data%20x")
    '/graph/%E8%88%AA%E5%A4%A9%20data%20x'
    """
    from urllib.parse import quote

    return quote(path, safe="".join(map(chr, range(0x21, 0x7F))))


def is_iri(value: str) -> bool:
    """Whether ``value`` is an absolute IRI (as the engine judges it): what a path may name.

    >>> is_iri("https://spacecoop.example/resource/smile"), is_iri("https://spacecoop.example/resource/x>")
    (True, False)
    """
    import pyoxigraph as ox

    try:
        ox.NamedNode(value)
    except ValueError:
        return False
    return True


def entity_iri(slug: str, base: str = config.BASE) -> str:
    """The IRI of the described thing with this slug."""
    return f"{base}{RESOURCE}{slug}"


def slug_of(iri: str, base: str = config.BASE) -> str | None:
    """The slug of an entity IRI, or None for any other IRI."""
    prefix = base + RESOURCE
    return iri[len(prefix):] if iri.startswith(prefix) and len(iri) > len(prefix) else None


def ontology_iri(base: str = config.BASE) -> str:
    """The ontology's own IRI (terms are ``{this}#{LocalName}``)."""
    return base + ONTOLOGY


def term_iri(local_name: str, base: str = config.BASE) -> str:
    """An ontology term's IRI from its local name."""
    return f"{ontology_iri(base)}#{local_name}"


def prefixes(base: str = config.BASE) -> dict[str, str]:
    """``config.PREFIXES`` with our own namespaces moved to ``base``."""
    return {p: rebase(ns, base) for p, ns in config.PREFIXES.items()}


def href(iri: str, base: str = config.BASE) -> str:
    """Where a page should link for ``iri``: the local path if it is ours, else the IRI."""
    return iri_to_path(iri, base) or iri


def local_name(iri: str) -> str:
    """The part after the last ``#`` or ``/``.

    >>> local_name("http://www.w3.org/2000/01/rdf-schema#label"), local_name("https://schema.org/Event")
    ('label', 'Event')
    """
    return re.split(r"[#/]", iri.rstrip("/#"))[-1]


def curie(iri: str, base: str = config.BASE) -> str:
    """A prefixed name for display (``sc:Mission``), or the IRI when no prefix fits.

    >>> curie("https://spacecoop.example/ontology#launchedOn", "https://spacecoop.example/")
    'sc:launchedOn'
    """
    best = ""
    best_prefix = ""
    for p, ns in prefixes(base).items():
        if iri.startswith(ns) and len(ns) > len(best):
            best, best_prefix = ns, p
    rest = iri[len(best):]
    return f"{best_prefix}:{rest}" if best and re.fullmatch(r"[\w.-]*", rest) else iri
