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

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from rdflib import Namespace
from rdflib.namespace import DCAT, DCTERMS, OWL, PROV, RDF, RDFS, SDO, SH, SKOS, VOID, XSD
from rdflib.namespace import Namespace as _NS

# --- IRI scheme -------------------------------------------------------------------------
# The canonical base is a reserved ".example" domain: the data is written against it and
# a deployment maps it to its own host with SPACECOOP_BASE (see loader.rebase).
CANONICAL_BASE = "https://spacecoop.example/"
BASE = os.environ.get("SPACECOOP_BASE", CANONICAL_BASE)

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


def resource_iri(slug: str) -> str:
    """The canonical IRI of a described thing, from its slug."""
    return f"{SCR}{slug}"


def graph_iri(stem: str) -> str:
    """The named graph that holds one source file (by file stem)."""
    return f"{SCG}{stem}"


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
TEMPLATES_DIR = PACKAGE_DIR / "pages" / "templates"
STATIC_DIR = PACKAGE_DIR / "pages" / "static"
CONTEXT_FILE = ONTOLOGY_DIR / "context.jsonld"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Settings:
    """Runtime settings of the server and the query engine (env vars SPACECOOP_*)."""

    store: str = field(default_factory=lambda: os.environ.get("SPACECOOP_STORE", "oxigraph"))
    data_files: tuple[str, ...] = ()  # empty: the bundled ontology + data + query catalogue
    base: str = BASE
    public_url: str = field(default_factory=lambda: os.environ.get("SPACECOOP_PUBLIC_URL", ""))
    query_timeout: float = field(default_factory=lambda: _env_float("SPACECOOP_TIMEOUT", 10.0))
    max_result_rows: int = field(default_factory=lambda: _env_int("SPACECOOP_MAX_ROWS", 100_000))
    max_result_bytes: int = field(default_factory=lambda: _env_int("SPACECOOP_MAX_BYTES", 64 * 1024 * 1024))
    max_request_bytes: int = field(default_factory=lambda: _env_int("SPACECOOP_MAX_REQUEST", 256 * 1024))
    max_query_depth: int = 64
    workers: int = field(default_factory=lambda: _env_int("SPACECOOP_WORKERS", 4))
    service_allow_list: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            u for u in os.environ.get("SPACECOOP_SERVICE_ALLOW", "").split() if u
        )
    )
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

    def with_(self, **changes: object) -> Settings:
        """A copy with some settings changed (CLI flags override the environment)."""
        return replace(self, **changes)  # type: ignore[arg-type]


__all__ = [
    "BASE", "CANONICAL_BASE", "CONTEXT_FILE", "DATA_DIR", "DCAT", "DCTERMS", "EXPECTED_DIR",
    "ONTOLOGY_DIR", "ONTOLOGY_IRI", "ORG", "OWL", "PREFIXES", "PROV", "QUERIES_DIR", "RDF",
    "RDFS", "ROOT", "SC", "SCG", "SCHEMA", "SCQ", "SCR", "SCSH", "SD", "SDO", "SH", "SHAPES_DIR",
    "SKOS", "STATIC_DIR", "TEMPLATES_DIR", "VOID", "WD", "WDT", "XSD", "Settings",
    "graph_iri", "resource_iri",
]
