"""SPARQL result serializers (JSON, XML, CSV, TSV) over plain term tuples.

Terms travel as small tuples so that every backend (Oxigraph, rdflib, a remote server)
shares one serializer and one row cap: ``("uri", value)``, ``("bnode", id)``,
``("literal", lexical, lang or None, datatype or None)``.

>>> rows = [{"x": ("literal", "a\\tb", "en", None)}]
>>> print(to_tsv(["x"], rows).decode())
?x
"a\\tb"@en
<BLANKLINE>
>>> to_csv(["x"], rows)
b'x\\r\\na\\tb\\r\\n'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import orjson

from spacecoop import config
from spacecoop.rdf import formats

Term = tuple[Any, ...]  # ("uri", v) | ("bnode", v) | ("literal", v, lang, datatype)
Row = dict[str, Term]
XSD_STRING = config.XSD_STRING


def term_of(term: Any) -> Term:
    """A pyoxigraph term as a plain tuple (picklable, backend-neutral): the one conversion.

    >>> import pyoxigraph as ox
    >>> term_of(ox.Literal("嫦娥", language="zh")), term_of(ox.NamedNode("http://x/a"))
    (('literal', '嫦娥', 'zh', None), ('uri', 'http://x/a'))
    """
    import pyoxigraph as ox  # at call time: the serializers here are used without pyoxigraph loaded

    if isinstance(term, ox.NamedNode):
        return ("uri", term.value)
    if isinstance(term, ox.BlankNode):
        return ("bnode", term.value)
    if isinstance(term, ox.Literal):
        return ("literal", term.value, term.language, None if term.language else term.datatype.value)
    return ("literal", str(term), None, None)  # RDF-star triples: shown as text


def oxigraph_term(t: Term) -> Any:
    """A plain tuple as the pyoxigraph term it stands for (the inverse of ``term_of``).

    >>> oxigraph_term(("literal", "3", None, "http://www.w3.org/2001/XMLSchema#integer"))
    <Literal value=3 datatype=<NamedNode value=http://www.w3.org/2001/XMLSchema#integer>>
    """
    import pyoxigraph as ox  # at call time, as above

    if t[0] == "uri":
        return ox.NamedNode(t[1])
    if t[0] == "bnode":
        return ox.BlankNode(t[1])
    if t[2]:
        return ox.Literal(t[1], language=t[2])
    return ox.Literal(t[1], datatype=ox.NamedNode(t[3])) if t[3] else ox.Literal(t[1])


def _json_term(t: Term) -> dict[str, str]:
    kind = t[0]
    if kind == "literal":
        out = {"type": "literal", "value": t[1]}
        if t[2]:
            out["xml:lang"] = t[2]
        elif t[3] and t[3] != XSD_STRING:
            out["datatype"] = t[3]
        return out
    return {"type": kind, "value": t[1]}


def to_json(variables: Sequence[str], rows: Sequence[Row]) -> bytes:
    """SPARQL 1.1 Query Results JSON."""
    bindings = [{k: _json_term(v) for k, v in row.items()} for row in rows]
    return orjson.dumps({"head": {"vars": list(variables)}, "results": {"bindings": bindings}})


def boolean_json(value: bool) -> bytes:
    return orjson.dumps({"head": {}, "boolean": value})


def _xml_term(t: Term) -> str:
    kind = t[0]
    if kind == "uri":
        return f"<uri>{escape(t[1])}</uri>"
    if kind == "bnode":
        return f"<bnode>{escape(t[1])}</bnode>"
    if t[2]:
        return f"<literal xml:lang={quoteattr(t[2])}>{escape(t[1])}</literal>"
    if t[3] and t[3] != XSD_STRING:
        return f"<literal datatype={quoteattr(t[3])}>{escape(t[1])}</literal>"
    return f"<literal>{escape(t[1])}</literal>"


_XML_HEAD = '<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'


def to_xml(variables: Sequence[str], rows: Sequence[Row]) -> bytes:
    """SPARQL Query Results XML."""
    parts = [_XML_HEAD, "<head>"]
    parts += [f"<variable name={quoteattr(v)}/>" for v in variables]
    parts.append("</head><results>")
    for row in rows:
        parts.append("<result>")
        parts += [f"<binding name={quoteattr(k)}>{_xml_term(v)}</binding>" for k, v in row.items()]
        parts.append("</result>")
    parts.append("</results></sparql>\n")
    return "".join(parts).encode()


def boolean_xml(value: bool) -> bytes:
    return f"{_XML_HEAD}<head/><boolean>{str(value).lower()}</boolean></sparql>\n".encode()


def _csv_field(t: Term | None) -> str:
    if t is None:
        return ""
    value: str = t[1] if t[0] != "bnode" else "_:" + t[1]
    if any(c in value for c in '",\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def to_csv(variables: Sequence[str], rows: Sequence[Row]) -> bytes:
    """SPARQL 1.1 CSV results (lossy by design: values only)."""
    lines = [",".join(variables)]
    lines += [",".join(_csv_field(row.get(v)) for v in variables) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


def _turtle_string(value: str) -> str:
    return '"' + (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                  .replace("\r", "\\r").replace("\t", "\\t")) + '"'


def _tsv_field(t: Term | None) -> str:
    if t is None:
        return ""
    if t[0] == "uri":
        return f"<{t[1]}>"
    if t[0] == "bnode":
        return f"_:{t[1]}"
    if t[2]:
        return f"{_turtle_string(t[1])}@{t[2]}"
    if t[3] and t[3] != XSD_STRING:
        return f"{_turtle_string(t[1])}^^<{t[3]}>"
    return _turtle_string(t[1])


def to_tsv(variables: Sequence[str], rows: Sequence[Row]) -> bytes:
    """SPARQL 1.1 TSV results (terms in Turtle syntax, so lossless)."""
    lines = ["\t".join("?" + v for v in variables)]
    lines += ["\t".join(_tsv_field(row.get(v)) for v in variables) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def boolean_text(value: bool) -> bytes:
    # CSV/TSV have no boolean form in the spec; the common practice is a one-cell table.
    return f"_askResult\n{str(value).lower()}\n".encode()


# XML 1.0 (§2.2 Char) cannot hold U+0000, the other C0 controls but tab, LF and CR, nor
# U+FFFE and U+FFFF, written raw or as character references: a document with one is not
# XML. (In UTF-8 the controls are single bytes that never occur inside another character.)
NOT_XML_CHAR = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_INSTEAD_OF_XML = {
    formats.SPARQL_XML.media_type: f"ask for JSON (Accept: {formats.SPARQL_JSON.media_type}, or format=json)",
    formats.RDF_XML.media_type: f"ask for Turtle, N-Triples or JSON-LD (Accept: {formats.TURTLE.media_type}, "
                                "or format=turtle)",
}


def xml_problem(media_type: str, body: bytes) -> str | None:
    """Why ``body`` cannot be served as the XML ``media_type`` says, or None when it can.

    >>> xml_problem("application/sparql-results+xml", b"<results><result><literal>a\\x00b</literal>").split(";")
    ['the answer holds U+0000 (in result 1), which XML 1.0 cannot hold', ' ask for JSON (Accept: \
application/sparql-results+json, or format=json)']
    >>> xml_problem("application/sparql-results+xml", b"<literal>tab\\there \\xe2\\x9c\\x93</literal>") is None
    True
    >>> xml_problem("application/sparql-results+json", b'{"value": "a\\\\u0000b"}') is None
    True
    """
    instead = _INSTEAD_OF_XML.get(media_type)
    found = NOT_XML_CHAR.search(body) if instead else None
    if found is None:
        return None
    char = found.group().decode("utf-8")
    where = body.count(b"<result>", 0, found.start())
    at = f" (in result {where})" if where else ""
    return f"the answer holds U+{ord(char):04X}{at}, which XML 1.0 cannot hold; {instead}"


def non_xml_char(text: str) -> tuple[int, str] | None:
    """The first character of ``text`` that XML 1.0 cannot hold, with its index, or None
    (``spacecoop validate`` reports such a character in a literal before it reaches an answer).

    >>> non_xml_char("tab\\tand ✓"), non_xml_char("été\\x00"), non_xml_char("\\ufffe")
    (None, (3, '\\x00'), (0, '\\ufffe'))
    """
    data = text.encode("utf-8", "surrogatepass")
    found = NOT_XML_CHAR.search(data)
    if found is None:
        return None
    return len(data[:found.start()].decode("utf-8", "surrogatepass")), found.group().decode("utf-8")


SELECT_WRITERS = {"json": to_json, "xml": to_xml, "csv": to_csv, "tsv": to_tsv}
BOOLEAN_WRITERS = {"json": boolean_json, "xml": boolean_xml, "csv": boolean_text, "tsv": boolean_text}
