"""Namespaces, bundled paths and runtime settings: the one place that defines them.

Nothing else in the package defines an IRI prefix or reads an environment variable.

>>> str(SC.Mission)
'https://spacecoop.example/ontology#Mission'
>>> resource_iri("smile")
'https://spacecoop.example/resource/smile'
>>> graph_iri("missions")
'https://spacecoop.example/graph/missions'
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from rdflib import Namespace
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, PROV, RDF, RDFS, SDO, SH, SKOS, VOID, XSD
from rdflib.namespace import Namespace as _NS

# --- IRI scheme -------------------------------------------------------------------------
# The canonical base is a reserved ".example" domain: the data is written against it and
# a deployment maps it to its own host with SPACECOOP_BASE (see loader.rebase).
CANONICAL_BASE = "https://spacecoop.example/"


class SettingError(ValueError):
    """A setting (``SPACECOOP_*`` or a flag) that cannot be used; its text is one line for stderr."""


# What a base's path may hold: RFC 3986 unreserved, sub-delims, ":", "@", "/" and %XX.
# Everything a SPARQL IRIREF, a Turtle IRI and a URL path all accept unescaped, so the
# textual rebase of queries and data (CANONICAL_BASE → base) can never break their syntax.
_PATH = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?"
                   r"|\[[0-9A-Fa-f:.]+\]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_base(raw: str, name: str = "SPACECOOP_BASE") -> str:
    """An http(s) base IRI in its one spelling: scheme and host lower-case, the default port
    dropped, the path ending in ``/``; anything else is a ``SettingError`` naming ``name``.

    >>> normalise_base("http://127.0.0.1:8001"), normalise_base("https://KG.example.org")
    ('http://127.0.0.1:8001/', 'https://kg.example.org/')
    >>> normalise_base("https://example.org/kg"), normalise_base("https://example.org:443/kg/")
    ('https://example.org/kg/', 'https://example.org/kg/')
    >>> normalise_base("https://example.org/kg/?x=1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spacecoop.config.SettingError: SPACECOOP_BASE='https://example.org/kg/?x=1' has a query or a fragment: ...
    """
    def refuse(why: str) -> SettingError:
        return SettingError(f"{name}={raw!r} {why}")

    if not raw or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in raw):
        raise refuse("is empty" if not raw else "holds a space or a control character")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not raw[len(scheme):].startswith("://"):
        raise refuse("is not an http(s) URL: give the scheme and host, e.g. https://kg.example.org/")
    if "?" in raw or "#" in raw:
        raise refuse("has a query or a fragment: a base is scheme://host[:port][/path/] only")
    if "@" in parts.netloc:
        raise refuse("has user information: a base is scheme://host[:port][/path/] only")
    host, _, port = parts.netloc.rpartition(":") if not parts.netloc.endswith("]") else (parts.netloc, "", "")
    if not host:  # no colon at all: the whole netloc is the host
        host, port = port, ""
    if not _HOST.fullmatch(host):
        raise refuse("has no valid host name")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise refuse(f"has an invalid port {port!r}")
    if not _PATH.fullmatch(parts.path):
        raise refuse("has characters a path may not hold unescaped: percent-encode them")
    if any(seg in (".", "..") for seg in parts.path.split("/")):
        raise refuse("has a . or .. path segment")
    netloc = host.lower() + (f":{int(port)}" if port and int(port) != _DEFAULT_PORTS[scheme] else "")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{scheme}://{netloc}{path}"


def _base_from_env() -> tuple[str, str | None]:
    """The base from SPACECOOP_BASE, and the one-line reason when it is refused.

    A refused base falls back to the canonical one so that importing the package still
    works; the command line refuses to start on the reason (``cli.main``: exit 2), and
    ``Settings()`` raises it.
    """
    try:
        return normalise_base(os.environ.get("SPACECOOP_BASE") or CANONICAL_BASE), None  # empty: unset
    except SettingError as err:
        return CANONICAL_BASE, str(err)


BASE, BASE_ERROR = _base_from_env()


def _refused_or(base: str) -> str:
    if BASE_ERROR:
        raise SettingError(BASE_ERROR)
    return base

SC = Namespace(CANONICAL_BASE + "ontology#")  # classes and properties
SCR = Namespace(CANONICAL_BASE + "resource/")  # things the graph describes
SCG = Namespace(CANONICAL_BASE + "graph/")  # named graphs, one per source file
SCQ = Namespace(CANONICAL_BASE + "query/")  # saved queries as RDF (SIB convention)
SCSH = Namespace(CANONICAL_BASE + "shapes#")  # SHACL shapes (shapes/*.ttl); not data, so not in PREFIXES
ONTOLOGY_IRI = CANONICAL_BASE + "ontology"

ORG = _NS("http://www.w3.org/ns/org#")
WD = _NS("http://www.wikidata.org/entity/")
WDT = _NS("http://www.wikidata.org/prop/direct/")
SD = _NS("http://www.w3.org/ns/sparql-service-description#")
SPEX = _NS("https://purl.expasy.org/sparql-examples/ontology#")  # SIB's saved-query terms; bound by the catalogue
W3C_FORMATS = _NS("http://www.w3.org/ns/formats/")  # format IRIs (sd:resultFormat, void:feature); not data
SCHEMA = SDO

PREFIXES: dict[str, str] = {
    "sc": str(SC),
    "scr": str(SCR),
    "scg": str(SCG),
    "scq": str(SCQ),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "xsd": str(XSD),
    "skos": str(SKOS),
    "dcterms": str(DCTERMS),
    "prov": str(PROV),
    "schema": str(SDO),
    "org": str(ORG),
    "sh": str(SH),
    "void": str(VOID),
    "dcat": str(DCAT),
    "sd": str(SD),
    "wd": str(WD),
    "wdt": str(WDT),
}


# Terms many modules compare with, as plain strings (what pyoxigraph and the JSON rows hold).
RDF_TYPE = str(RDF.type)
RDF_LANGSTRING = str(RDF.langString)
RDFS_LABEL = str(RDFS.label)
XSD_STRING = str(XSD.string)


def resource_iri(slug: str) -> str:
    """The canonical IRI of a described thing, from its slug."""
    return f"{SCR}{slug}"


def graph_iri(stem: str) -> str:
    """The named graph that holds one source file (by file stem), the stem written as one
    IRI path segment (RFC 3987): unreserved ASCII and non-ASCII letters, marks and digits
    as they are, every other character percent-encoded as UTF-8.

    >>> graph_iri("my missions"), graph_iri("été#2"), graph_iri("航天-data_1")
    ('https://spacecoop.example/graph/my%20missions', 'https://spacecoop.example/graph/été%232', \
'https://spacecoop.example/graph/航天-data_1')
    >>> graph_iri("50%/ok?"), graph_iri("bad\\udce9byte")  # a file name that is not UTF-8 keeps its byte
    ('https://spacecoop.example/graph/50%25%2Fok%3F', 'https://spacecoop.example/graph/bad%E9byte')
    """
    return f"{SCG}{''.join(map(_segment_char, stem))}"


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _segment_char(char: str) -> str:
    # Non-ASCII letters, marks and digits are all RFC 3987 ucschar: an IRI holds them as
    # they are. Spaces, controls, symbols and reserved ASCII would break the IRI (or mean
    # something else in it), so they are encoded; surrogateescape gives back the raw byte
    # of a file name that is not UTF-8.
    if char in _UNRESERVED or (ord(char) > 127 and unicodedata.category(char)[0] in "LMN"):
        return char
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogateescape"))


# --- Bundled knowledge folders ------------------------------------------------------------
def _knowledge_root() -> Path:
    """The repository root in a checkout, else the copy shipped inside the wheel."""
    here = Path(__file__).resolve().parent
    checkout = here.parent.parent
    if (checkout / "ontology").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    return here / "bundled"


ROOT = _knowledge_root()
ONTOLOGY_DIR = ROOT / "ontology"
DATA_DIR = ROOT / "data"
SHAPES_DIR = ROOT / "shapes"
QUERIES_DIR = ROOT / "queries"
EXPECTED_DIR = QUERIES_DIR / "expected"
PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "web" / "pages" / "templates"
STATIC_DIR = PACKAGE_DIR / "web" / "pages" / "static"
CONTEXT_FILE = ONTOLOGY_DIR / "context.jsonld"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def service_entries(text: str) -> tuple[tuple[str, str], ...]:
    """``SPACECOOP_SERVICE_ALLOW``: space-separated endpoints a query may name in ``SERVICE``,
    each ``IRI`` (called at that IRI) or ``IRI=URL`` (a query names IRI, the call goes to URL:
    a mirror of a public endpoint the operator runs, or a stand-in in tests).

    >>> service_entries("https://a.example/sparql https://query.wikidata.org/sparql=http://127.0.0.1:7878/query")
    (('https://a.example/sparql', 'https://a.example/sparql'), ('https://query.wikidata.org/sparql', 'http://127.0.0.1:7878/query'))
    """
    out = []
    for entry in text.split():
        iri, sep, url = entry.partition("=http")
        out.append((iri, "http" + url if sep else iri))
    return tuple(out)


def graphviz_choice() -> str:
    """``SPACECOOP_GRAPHVIZ``: "" (the bundled Graphviz), ``off``, or a dot-compatible program.

    Read at each drawing (spacecoop.pictures.graphviz), not frozen in Settings: pictures are drawn by
    the process, whichever engine asked.
    """
    return os.environ.get("SPACECOOP_GRAPHVIZ", "").strip()


# --- The store -----------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreSpec:
    """``--store`` / ``SPACECOOP_STORE``, parsed once: ``kind`` is ``memory`` (rdflib),
    ``oxigraph`` or ``sparql``; ``location`` is the folder of a persistent Oxigraph store
    (``oxigraph:PATH``) or the remote endpoint's URL (``sparql:URL``), else empty.

    >>> StoreSpec.parse("oxigraph:/srv/kg"), StoreSpec.parse("sparql:http://h/sparql").remote
    (StoreSpec(kind='oxigraph', location='/srv/kg'), True)
    >>> StoreSpec.parse("memory").persistent, str(StoreSpec.parse("oxigraph"))
    (False, 'oxigraph')
    >>> StoreSpec.parse("postgres")
    Traceback (most recent call last):
    ...
    spacecoop.config.SettingError: unknown store 'postgres': use memory, oxigraph, oxigraph:PATH or sparql:URL
    """

    kind: str
    location: str = ""

    @classmethod
    def parse(cls, text: str) -> StoreSpec:
        """The spec ``text`` names; a ``SettingError`` (a ValueError) for one that names no store."""
        kind, colon, location = text.partition(":")
        if kind in ("memory", "oxigraph") and not colon:
            return cls(kind)
        if kind in ("oxigraph", "sparql") and colon:
            if not location.strip():
                raise SettingError(f"store {text!r} names no {'PATH' if kind == 'oxigraph' else 'URL'}: "
                                   f"write {kind}:{'PATH' if kind == 'oxigraph' else 'URL'}")
            return cls(kind, location)
        raise SettingError(f"unknown store {text!r}: use memory, oxigraph, oxigraph:PATH or sparql:URL")

    @property
    def remote(self) -> bool:
        """A remote SPARQL server (``sparql:URL``): no local graph, no dumps, no version."""
        return self.kind == "sparql"

    @property
    def persistent(self) -> bool:
        """A store ``spacecoop load`` built on disk (``oxigraph:PATH``)."""
        return self.kind == "oxigraph" and bool(self.location)

    def __str__(self) -> str:
        return f"{self.kind}:{self.location}" if self.location else self.kind


@dataclass(frozen=True)
class Settings:
    """Runtime settings of the server and the query engine (env vars SPACECOOP_*)."""

    store: str = field(default_factory=lambda: os.environ.get("SPACECOOP_STORE", "oxigraph"))
    data_files: tuple[str, ...] = ()  # empty: the bundled ontology + data + query catalogue
    base: str = field(default_factory=lambda: _refused_or(BASE))
    public_url: str = field(default_factory=lambda: os.environ.get("SPACECOOP_PUBLIC_URL", ""))
    query_timeout: float = field(default_factory=lambda: _env_float("SPACECOOP_TIMEOUT", 10.0))
    max_result_rows: int = field(default_factory=lambda: _env_int("SPACECOOP_MAX_ROWS", 100_000))
    max_result_bytes: int = field(default_factory=lambda: _env_int("SPACECOOP_MAX_BYTES", 64 * 1024 * 1024))
    max_request_bytes: int = field(default_factory=lambda: _env_int("SPACECOOP_MAX_REQUEST", 256 * 1024))
    max_query_depth: int = 64
    workers: int = field(default_factory=lambda: _env_int("SPACECOOP_WORKERS", 4))
    # SERVICE endpoints as (the IRI a query names, the URL called): ``service_entries``.
    service_routes: tuple[tuple[str, str], ...] = field(
        default_factory=lambda: service_entries(os.environ.get("SPACECOOP_SERVICE_ALLOW", "")))
    cache_entries: int = field(default_factory=lambda: _env_int("SPACECOOP_CACHE_ENTRIES", 512))
    cache_bytes: int = field(default_factory=lambda: _env_int("SPACECOOP_CACHE_BYTES", 64 * 1024 * 1024))
    # HTTP connection limits (http_limits.py): what one client may make the server hold, and
    # for how long. Heads are small (browsers send < 8 KiB; long queries go by POST), a client
    # that sends its head or body slower than this is an attack or a dead peer, and the
    # connection cap keeps descriptors free for the store and the workers.
    max_header_bytes: int = field(default_factory=lambda: _env_int("SPACECOOP_MAX_HEADER_BYTES", 16 * 1024))
    max_headers: int = field(default_factory=lambda: _env_int("SPACECOOP_MAX_HEADERS", 100))
    header_timeout: float = field(default_factory=lambda: _env_float("SPACECOOP_HEADER_TIMEOUT", 10.0))
    body_timeout: float = field(default_factory=lambda: _env_float("SPACECOOP_BODY_TIMEOUT", 30.0))
    keepalive_timeout: float = field(default_factory=lambda: _env_float("SPACECOOP_KEEPALIVE_TIMEOUT", 5.0))
    max_connections: int = field(default_factory=lambda: _env_int("SPACECOOP_MAX_CONNECTIONS", 0))  # 0: from fds
    # Memory one query may take in its worker, on top of the store the worker holds: past
    # it the worker stops, is replaced, and the client is told (422).
    query_memory_mb: int = field(default_factory=lambda: _env_int("SPACECOOP_QUERY_MEMORY_MB", 1024))
    # A fair share per client (engine/fair_share.py; who a client is: web/clients.py).
    reserve_workers: int = field(default_factory=lambda: _env_int("SPACECOOP_RESERVE_WORKERS", 2))
    client_concurrency: int = field(default_factory=lambda: _env_int("SPACECOOP_CLIENT_CONCURRENCY", 2))
    client_queue: int = field(default_factory=lambda: _env_int("SPACECOOP_CLIENT_QUEUE", 8))
    client_budget: float = field(default_factory=lambda: _env_float("SPACECOOP_CLIENT_BUDGET", 60.0))
    budget_window: float = field(default_factory=lambda: _env_float("SPACECOOP_BUDGET_WINDOW", 60.0))
    queue_wait: float = field(default_factory=lambda: _env_float("SPACECOOP_QUEUE_WAIT", 10.0))
    trusted_proxies: tuple[str, ...] = field(
        default_factory=lambda: tuple(os.environ.get("SPACECOOP_TRUSTED_PROXIES", "").replace(",", " ").split()))
    # Operator-issued keys: "name:key[:factor]" entries separated by commas or spaces.
    api_keys: tuple[str, ...] = field(
        default_factory=lambda: tuple(os.environ.get("SPACECOOP_API_KEYS", "").replace(",", " ").split()))

    def __post_init__(self) -> None:
        # The one normalisation: every Settings holds the base and the public URL spelled
        # one way, whoever built it (environment, flags, a test).
        object.__setattr__(self, "base", normalise_base(self.base))
        if self.public_url:
            object.__setattr__(self, "public_url", normalise_base(self.public_url, "SPACECOOP_PUBLIC_URL"))

    @property
    def service_allow_list(self) -> tuple[str, ...]:
        """The IRIs a query may name in ``SERVICE`` (the operator's allow-list)."""
        return tuple(iri for iri, _ in self.service_routes)

    @property
    def service_urls(self) -> tuple[str, ...]:
        """Where the allowed SERVICE calls go (what the workers may reach)."""
        return tuple(dict.fromkeys(url for _, url in self.service_routes))

    @functools.cached_property
    def store_spec(self) -> StoreSpec:
        """``store`` parsed (``StoreSpec.parse``): asked for when the store is opened, so that
        a wrong one is refused there, in the words of the command that opens it."""
        return StoreSpec.parse(self.store)

    def with_(self, **changes: object) -> Settings:
        """A copy with some settings changed (CLI flags override the environment)."""
        return replace(self, **changes)  # type: ignore[arg-type]


__all__ = [
    "BASE", "BASE_ERROR", "CANONICAL_BASE", "CONTEXT_FILE", "DATA_DIR", "DCAT", "DCTERMS", "EXPECTED_DIR", "FOAF",
    "ONTOLOGY_DIR", "ONTOLOGY_IRI", "ORG", "OWL", "PREFIXES", "PROV", "QUERIES_DIR", "RDF", "RDFS", "RDFS_LABEL",
    "RDF_LANGSTRING", "RDF_TYPE", "ROOT", "SC", "SCG", "SCHEMA", "SCQ", "SCR", "SCSH", "SD", "SDO", "SH",
    "SHAPES_DIR", "SKOS", "SPEX", "STATIC_DIR", "TEMPLATES_DIR", "VOID", "W3C_FORMATS", "WD", "WDT", "XSD",
    "XSD_STRING", "SettingError", "Settings", "StoreSpec", "graph_iri", "graphviz_choice", "normalise_base",
    "resource_iri", "service_entries"
]
