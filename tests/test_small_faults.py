"""Small faults an operator or a curator runs into (issue 21, point 6), each tried for real:
HEAD on every GET route; a Turtle file with a byte-order mark; a control character XML
cannot hold; a data file whose name holds a space; a file that is a folder, unreadable or
not UTF-8 — through ``spacecoop validate``, ``spacecoop load`` and ``spacecoop serve --data``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from spacecoop import config
from spacecoop.rdf import loader
from spacecoop.rdf.loader import LoadError, Source, load_oxigraph, read_quads
from spacecoop.saved import saved_queries as sq
from spacecoop.validate import validate
from spacecoop.web.app import create_app

from .conftest import LiveServer, free_port, in_process

# --- HEAD answers wherever GET does ---------------------------------------------------------
# A sample for each path parameter of each route: one that exists and, where the route
# looks something up, one that does not (a 404 must be the same for HEAD too).
QUERY = sq.load_all()[0].name
SAMPLES: dict[str, list[str]] = {
    "/queries/{name}": [QUERY, "no-such-query"],
    "/api/queries/{name}": [QUERY, "no-such-query"],
    "/dumps/{name}": ["spacecoop.nt", "nothing.ttl"],
    "/ontology.{ext}": ["ttl", "xyz"],
    "/ontology/{version}": ["0.1.0", "9.9.9"],
    "/class/{name}": ["Mission", "NoSuchClass"],
    "/graph/{rest:path}": ["missions", "missions.ttl", "no-such-graph"],
    "/resource/{rest:path}": ["smile", "smile.jsonld", "no-such-thing"],
    "/static": ["site.css", "no-such-file.css"],
}
# The headers a HEAD answer must share with the GET answer, when the GET has them.
SAME_HEADERS = ("content-type", "etag", "content-length", "cache-control", "vary", "link", "content-location",
                "content-disposition", "location", "allow")
_PARAM = re.compile(r"\{[^}]+\}")


def get_urls() -> list[str]:
    """Every GET route of the app, as URLs with sample path parameters (a new route whose
    parameters have no sample fails here rather than go untested)."""
    urls: list[str] = []
    for context in iter_route_contexts(create_app().routes):
        path = context.path or ""
        if isinstance(context.route, Mount):
            urls += [f"{path}/{sample}" for sample in SAMPLES[path]]
        elif "GET" in (context.methods or ()):
            if not _PARAM.search(path):
                urls.append(path)
                continue
            assert path in SAMPLES, f"no sample path parameters for the GET route {path}: add them to SAMPLES"
            urls += [_PARAM.sub(sample, path) for sample in SAMPLES[path]]
    return list(dict.fromkeys(urls))  # a route may also be reached by a sample of a broader one


URLS = get_urls()


@pytest.fixture(scope="module")
def uncached() -> Iterator[httpx.Client]:
    """The app as served with its response cache off, so that no HEAD is answered from a cached GET."""
    with in_process(config.Settings(cache_entries=0)) as client:
        yield client


def test_the_routes_named_in_the_issue_are_among_those_tried() -> None:
    assert {"/timeline", "/network", "/queries", f"/queries/{QUERY}", "/api/queries", f"/api/queries/{QUERY}",
            "/docs", "/static/site.css"} <= set(URLS)


@pytest.mark.parametrize("url", URLS)
def test_head_answers_as_get_does(uncached: httpx.Client, url: str) -> None:
    head = uncached.head(url)  # first: nothing about this URL has been asked before
    get = uncached.get(url)
    while head.status_code == 202 or get.status_code == 202:  # being built in the background
        time.sleep(float(get.headers.get("retry-after", "1")))
        head, get = uncached.head(url), uncached.get(url)
    assert head.status_code == get.status_code != 405, url
    assert head.content == b""
    expected = {name: get.headers[name] for name in SAME_HEADERS if name in get.headers}
    if get.headers.get("cache-control") == "no-store" and url.endswith("/metrics"):
        expected.pop("content-length", None)  # made afresh per request, counting the HEAD itself
    assert {name: head.headers.get(name) for name in expected} == expected, url


# --- helpers for the file tests -----------------------------------------------------------
BOM = b"\xef\xbb\xbf"
PREFIXES = ("@prefix scr: <https://spacecoop.example/resource/> .\n"
            "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n")
GRAPHS_QUERY = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g"


def spacecoop(*args: str, cwd: Path, user: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, as a curator or an operator types it in ``cwd`` (``user``: the
    command that runs it as another user)."""
    return subprocess.run([*(user or []), sys.executable, "-m", "spacecoop", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=120)


def labelled(path: Path, label: str, prefix: bytes = b"") -> Path:
    """A data file with one labelled thing, the label written as given (escapes and all)."""
    path.write_bytes(prefix + (PREFIXES + f'scr:thing rdfs:label "{label}"@en .\n').encode())
    return path


# --- a byte-order mark is no syntax error -------------------------------------------------
TRIPLE = "<https://spacecoop.example/resource/a> <http://www.w3.org/2000/01/rdf-schema#label> \"a\" ."
IN_EVERY_FORMAT = {
    "ttl": TRIPLE,
    "nt": TRIPLE,
    "n3": TRIPLE,
    "nq": TRIPLE.removesuffix(" .") + " <https://spacecoop.example/graph/g> .",
    "trig": "<https://spacecoop.example/graph/g> { " + TRIPLE + " }",
    "jsonld": '{"@id": "https://spacecoop.example/resource/a", "http://www.w3.org/2000/01/rdf-schema#label": "a"}',
    "rdf": '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"><rdf:Description '
           'rdf:about="https://spacecoop.example/resource/a"><rdfs:label>a</rdfs:label></rdf:Description></rdf:RDF>',
}


@pytest.mark.parametrize("suffix", IN_EVERY_FORMAT)
def test_a_byte_order_mark_is_skipped_in_every_format(tmp_path: Path, suffix: str) -> None:
    plain, marked = tmp_path / f"plain.{suffix}", tmp_path / f"marked.{suffix}"
    plain.write_text(IN_EVERY_FORMAT[suffix] + "\n", encoding="utf-8")
    marked.write_bytes(BOM + plain.read_bytes())
    graph = config.graph_iri("g")
    expected = list(read_quads(Source(plain, graph)))
    assert len(expected) == 1 and list(read_quads(Source(marked, graph))) == expected
    for base in (config.CANONICAL_BASE, "http://127.0.0.1:8001/"):  # bulk-loaded, and parsed to be rebased
        store = ox.Store()
        assert load_oxigraph(store, [Source(marked, graph)], base=base) == 1


def test_a_byte_order_mark_before_a_big_line_file_cut_in_pieces(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "PIECE_BYTES", 512)  # pieces of a few lines, on two threads
    monkeypatch.setattr(loader, "LOAD_THREADS", 2)
    lines = [f"<https://spacecoop.example/resource/t{i}> <http://www.w3.org/2000/01/rdf-schema#label> \"{i}\" ."
             for i in range(200)]
    big = tmp_path / "big.nt"
    big.write_bytes(BOM + ("\n".join(lines) + "\n").encode())
    assert big.stat().st_size >= 2 * loader.PIECE_BYTES
    assert load_oxigraph(ox.Store(), [Source(big, config.graph_iri("big"))]) == 200


def test_an_error_after_a_byte_order_mark_keeps_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttl"
    broken.write_bytes(BOM + (PREFIXES + "scr:a rdfs:label .\n").encode())
    with pytest.raises(LoadError) as err:
        list(read_quads(Source(broken, None)))
    assert err.value.line == 3 and "ufeff" not in err.value.message


def test_validate_reads_a_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    labelled(tmp_path / "marked.ttl", "A thing", prefix=BOM)
    done = spacecoop("validate", "marked.ttl", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("OK"), done.stdout + done.stderr


# --- characters XML cannot hold are reported by validate ---------------------------------------
@pytest.mark.parametrize(("written", "code"), [
    ("A\\u0000B", "U+0000"), ("A\x01B", "U+0001"), ("A\\u001fB", "U+001F"), ("A\x0bB", "U+000B"),
    ("A\\U0000FFFEB", "U+FFFE"), ("A\\uFFFFB", "U+FFFF"),
])
def test_a_character_xml_cannot_hold_is_a_finding_with_file_and_line(tmp_path: Path, written: str,
                                                                       code: str) -> None:
    labelled(tmp_path / "labels.ttl", written)
    done = spacecoop("validate", "labels.ttl", "--format", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    findings = json.loads(done.stdout)
    assert len(findings) == 1, findings
    f = findings[0]
    assert (f["file"], f["line"], f["kind"], f["severity"]) == ("labels.ttl", 3, "data", "Violation")
    assert (f["focus"], f["path"]) == (config.resource_iri("thing"), "rdfs:label")
    assert f"remove the {'non-character' if code >= 'U+FFFE' else 'control character'} {code} from the label" \
        in f["fix"]
    assert code in f["message"] and "XML" in f["message"]
    text = spacecoop("validate", "labels.ttl", cwd=tmp_path).stdout
    assert "line 3" in text and code in text
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", text)  # shown escaped, never as it is


def test_each_such_literal_is_found_on_its_own_line(tmp_path: Path) -> None:
    data = tmp_path / "two.ttl"
    data.write_text(PREFIXES + 'scr:one rdfs:label "first\\u0000"@en .\n\n'
                    'scr:two rdfs:label "second\\u0000"@en ;\n    rdfs:comment "ok"@en .\n', encoding="utf-8")
    found = {(f.focus, f.line) for f in validate([data]).findings}
    assert found == {(config.resource_iri("one"), 3), (config.resource_iri("two"), 5)}


@pytest.mark.parametrize("written", ["tab\\there", "line\\nbreak", "cr\\rhere", "\ufffd replacement", "\U0001f680"])
def test_characters_xml_can_hold_are_no_finding(tmp_path: Path, written: str) -> None:
    findings = validate([labelled(tmp_path / "fine.ttl", written)]).findings
    assert [f for f in findings if "XML" in f.message] == []  # (a line break in a label is another finding)


# --- a file name with a space ---------------------------------------------------------------
SPACED = "my missions.ttl"
SPACED_GRAPH = f"{config.SCG}my%20missions"


def test_the_graph_of_a_file_is_its_stem_as_an_iri_segment() -> None:
    assert config.graph_iri("my missions") == SPACED_GRAPH
    assert ox.NamedNode(config.graph_iri("a b#c?d/e%f\tg\u00e9\u822a")).value.endswith(
        "a%20b%23c%3Fd%2Fe%25f%09g\u00e9\u822a")


def test_validate_a_file_whose_name_holds_a_space(tmp_path: Path) -> None:
    labelled(tmp_path / SPACED, "A\\u0000B")
    done = spacecoop("validate", SPACED, "--format", "json", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    assert [(f["file"], f["line"]) for f in json.loads(done.stdout)] == [(SPACED, 3)]


def test_load_a_file_whose_name_holds_a_space(tmp_path: Path) -> None:
    labelled(tmp_path / SPACED, "A thing")
    done = spacecoop("load", SPACED, "--store", "oxigraph:store", cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    (tmp_path / "graphs.rq").write_text(GRAPHS_QUERY)
    graphs = spacecoop("query", "--file", "graphs.rq", "--store", "oxigraph:store", "--format", "csv", cwd=tmp_path)
    assert graphs.stdout.split() == ["g", SPACED_GRAPH], graphs.stderr


@pytest.mark.live
def test_serve_data_with_a_space_in_its_name_and_a_byte_order_mark(tmp_path: Path) -> None:
    labelled(tmp_path / SPACED, "Spaced")
    labelled(tmp_path / "marked.ttl", "Marked", prefix=BOM)
    srv = LiveServer("--data", str(tmp_path / SPACED), str(tmp_path / "marked.ttl"))
    try:
        answer = httpx.get(f"{srv.url}/sparql", params={"query": GRAPHS_QUERY},
                           headers={"Accept": "application/sparql-results+json"}).json()
        label = httpx.get(f"{srv.url}/sparql", headers={"Accept": "text/csv"}, params={
            "query": f"SELECT ?l WHERE {{ GRAPH <{SPACED_GRAPH}> {{ ?s ?p ?l }} }}"}).text
    finally:
        srv.stop()
    assert [b["g"]["value"] for b in answer["results"]["bindings"]] == [config.graph_iri("marked"), SPACED_GRAPH]
    assert label.split() == ["l", "Spaced"]


@pytest.mark.live
def test_the_graph_of_a_file_named_with_a_space_or_chinese_dereferences(tmp_path: Path) -> None:
    """Its IRI, percent-encoded where a path must be, answers in every variant."""
    names = {SPACED: SPACED_GRAPH, "航天 数据.ttl": config.graph_iri("航天 数据")}
    for name in names:
        labelled(tmp_path / name, name)
    srv = LiveServer("--data", *(str(tmp_path / n) for n in names))
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            for name, graph in names.items():
                path = httpx.URL(graph).raw_path.decode()  # the IRI as a URI: what a client sends
                page = c.get(path, headers={"Accept": "text/html"})
                assert page.status_code == 200 and f"Named graph {name.removesuffix('.ttl')}" in page.text
                assert page.headers["Content-Location"] == path + ".html"
                nt = c.get(path + ".nt")
                assert nt.status_code == 200 and f'"{name}"@en' in nt.text
                data = c.get(path + ".json").json()
                assert data["iri"] == graph and data["triples"] == len(nt.text.splitlines())
                assert c.head(path + ".ttl").status_code == 200
            missing = c.get("/graph/no%20such%20graph")
            assert missing.status_code == 404 and "no named graph" in missing.text
    finally:
        srv.stop()


# --- a file that cannot be read: one line with the file and what to do, exit 1 ------------------
def not_root() -> list[str]:
    """The command prefix that runs a command as a user file permissions apply to (root
    reads every file): none when we are not root, else ``setpriv`` to nobody."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): an unreadable file cannot be made")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user may enter and write (pytest's own tmp_path is private to us)."""
    path = Path(tempfile.mkdtemp(prefix="spacecoop-faults-"))
    path.chmod(0o777)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=True)


PROBLEMS = {  # name: (make the file in a folder → its name, what the message must say per command)
    "folder": (lambda d: (d / "missions.ttl").mkdir() or "missions.ttl",
               {"validate": "no .ttl files in this folder", "load": "is a folder, not an RDF file; name the files",
                "serve": "is a folder, not an RDF file; name the files"}),
    "latin-1": (lambda d: (d / "latin.ttl").write_bytes(
        (PREFIXES + 'scr:x rdfs:label "caf\xe9"@fr .\n').encode("latin-1")) and "latin.ttl",
        dict.fromkeys(("validate", "load", "serve"), "save the file as UTF-8")),
    "utf-16": (lambda d: (d / "wide.ttl").write_bytes(PREFIXES.encode("utf-16")) and "wide.ttl",
               dict.fromkeys(("validate", "load", "serve"), "save the file as UTF-8")),
    "missing": (lambda d: "nowhere.ttl", dict.fromkeys(("validate", "load", "serve"), "no such file")),
    "unreadable": (lambda d: labelled(d / "secret.ttl", "x").chmod(0) or "secret.ttl",
                   dict.fromkeys(("validate", "load", "serve"), "permission denied")),
}
COMMANDS = {
    "validate": ("validate", "{}"),
    "load": ("load", "{}", "--store", "oxigraph:store"),
    "serve": ("serve", "--data", "{}"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_a_file_that_cannot_be_read_is_one_line_and_exit_1(shared_dir: Path, problem: str, command: str) -> None:
    make, words = PROBLEMS[problem]
    name = make(shared_dir)
    user = not_root() if problem == "unreadable" else None
    args = [a.format(name) for a in COMMANDS[command]]
    if command == "serve":
        args += ["--port", str(free_port())]
    done = spacecoop(*args, cwd=shared_dir, user=user)
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output, output
    # validate reports on standard output (with its summary line); load and serve say one line on stderr.
    said = done.stdout.splitlines()[0] if command == "validate" else done.stderr.strip()
    assert "\n" not in said and said.split(":")[0].removeprefix(f"spacecoop {command}").strip() in ("", name)
    assert name in said and words[command] in said, said
