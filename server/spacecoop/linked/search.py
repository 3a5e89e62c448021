"""The label index behind search: every label, name, title and identifier of the graph,
found by what a reader types — words and word beginnings in English, characters in
Chinese, one typo forgiven.

Why SQLite FTS5 (from the standard library): it adds no dependency; the index is one
file that can sit beside a store built by ``spacecoop load`` and outlive the process;
and its prefix indexes answer "sol…" in a B-tree look-up instead of a scan.

How text is matched (one home for it: ``normalise`` and ``tokenise``, used alike when the
index is built and when it is asked):

* ``normalise`` folds what a reader does not type: width (full-width ``ＳＭＩＬＥ``),
  accents, case, and the apostrophes and hyphens inside a name — nobody agrees whether
  it is Chang'e, Chang’e, Changʼe or Chang-e, and many type ``change``;
* ``tokenise`` cuts the folded text into words, and every CJK character into a token of
  its own: Chinese has no spaces, so a reader's 嫦娥 or 六号 is found as a phrase of
  characters anywhere in 嫦娥六号. The FTS5 column holds these tokens separated by
  spaces, so FTS5's own ``unicode61`` tokenizer only has to split at the spaces;
* a hyphenated or apostrophised word is also indexed as its parts (``x-ray``: ``xray``,
  ``x``, ``ray``), so ``x ray`` and ``ray`` find it too;
* words of five letters or more may carry one typo (a letter wrong, missing, extra or two
  swapped): a vocabulary of the indexed words with their one-letter deletions
  (symmetric delete) gives the few words a typed one may stand for.

Ranking: the label is the query (exact) > the label begins with it (prefix) > every word
is in the label > a typo was forgiven; ties go to the entity in more triples, then by label.

>>> normalise("Chang’e 6") == normalise("Chang'e 6") == normalise("CHANG-E 6") == "change 6"
True
>>> tokenise("Chang’e 6 嫦娥六号")
['change', '6', '嫦', '娥', '六', '号']
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from spacecoop import config
from spacecoop.engine.store import BackendSpec
from spacecoop.linked import exports

FORMAT = "1"  # the index file's layout; a file of another layout is refused, not misread
FILE_NAME = "search.sqlite"  # beside the dumps (dump_files): in a store's folder, or the builder's
MAX_QUERY_CHARS = 200  # a reader's query is a few words: more is cut, so work stays bounded
MAX_TERMS = 8
MAX_LABEL_CHARS = 1000  # a literal longer than this is prose, not a name: only its start is indexed
MIN_TYPO_CHARS = 5  # a shorter word with one letter changed is too often another word
MAX_TYPO_WORDS = 16  # the words one typed word may stand for
CANDIDATES = 20_000  # the most matching labels ranked for one query (exact matches always are)

SUBCLASS_OF = str(config.RDFS.subClassOf)
STATEMENT = str(config.RDF.Statement)
SCHEMA_HTTP = "http://schema.org/"  # older data spells schema.org without TLS: same terms
LABEL_PREDICATES = frozenset({
    config.RDFS_LABEL,
    str(config.SKOS.prefLabel), str(config.SKOS.altLabel), str(config.SKOS.hiddenLabel),
    str(config.SKOS.notation),
    str(config.SCHEMA.name), str(config.SCHEMA.identifier), SCHEMA_HTTP + "name", SCHEMA_HTTP + "identifier",
    str(config.DCTERMS.title), str(config.DCTERMS.identifier),
})

# Apostrophes and hyphens a word may hold (after NFKC, so full-width ones are here as ASCII).
JOINERS = frozenset("'’ʼ‘ʻ`´′-‐‑‒–−")
_CJK_RANGES = ((0x3005, 0x3007), (0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
               (0xF900, 0xFAFF), (0x20000, 0x3FFFF))


# --- text --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=65536)
def _fold(text: str) -> str:
    # NFKC first for width and compatibility forms (ＳＭＩＬＥ, ﬁ, ①); casefold before the
    # marks go, as casefold itself can add one (İ → i + dot); NFC puts back what NFKD split
    # but is not a mark (Hangul syllables).
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return unicodedata.normalize("NFC", "".join(c for c in text if not unicodedata.category(c).startswith("M")))


def normalise(text: str) -> str:
    """``text`` as the index compares it: full-width → half-width (NFKC), accents dropped
    (NFKD, then every combining mark removed), case folded, apostrophes and hyphens of
    every kind removed (so a name is one word, however its writer joined it).

    >>> normalise("Chang'e"), normalise("Chang’e"), normalise("Changʼe"), normalise("Chang-e")
    ('change', 'change', 'change', 'change')
    >>> normalise("ＳＭＩＬＥ"), normalise("Éric Lagadec"), normalise("Straße"), normalise("X‐ray")
    ('smile', 'eric lagadec', 'strasse', 'xray')
    >>> normalise("嫦娥六号")
    '嫦娥六号'
    """
    return "".join(c for c in _fold(text) if c not in JOINERS)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return code >= _CJK_RANGES[0][0] and any(lo <= code <= hi for lo, hi in _CJK_RANGES)


@dataclass(frozen=True)
class Token:
    """One token of a text: its folded form, where it stands in the original text
    (``start``/``end``, for marking it), whether it is a CJK character, and the parts of a
    word that had apostrophes or hyphens inside (else empty)."""

    text: str
    start: int
    end: int
    cjk: bool = False
    parts: tuple[str, ...] = ()


def scan(text: str) -> list[Token]:
    """The tokens of ``text`` with their places in it (``tokenise`` gives their text).

    >>> text = "Chang'e-6 lander"
    >>> [(t.text, text[t.start:t.end], t.parts) for t in scan(text)]
    [('change6', "Chang'e-6", ('chang', 'e', '6')), ('lander', 'lander', ())]
    """
    return _scan_ascii(text) if text.isascii() else scan_chars(text)


def scan_chars(text: str) -> list[Token]:
    """``scan`` character by character: any text (``scan`` takes a faster road for ASCII).

    >>> [t.text for t in scan_chars("Éric's X‐ray")]
    ['erics', 'xray']
    """
    tokens: list[Token] = []
    word: list[str] = []
    parts: list[list[str]] = [[]]
    start = end = 0

    def flush() -> None:
        if word:
            pieces = tuple("".join(p) for p in parts if p)
            tokens.append(Token("".join(word), start, end, False, pieces if len(pieces) > 1 else ()))
        word.clear()
        parts[:] = [[]]

    for i, char in enumerate(text):
        # ASCII folds by lower-casing alone: most characters, kept off the Unicode path.
        folded = char.lower() if char < "\x80" else _fold(char)
        if not folded and word:  # a combining mark: part of the word it follows
            end = i + 1
        for c in folded:
            if _is_cjk(c):
                flush()
                tokens.append(Token(c, i, i + 1, True))
            elif c.isalnum():
                if not word:
                    start = i
                word.append(c)
                parts[-1].append(c)
                end = i + 1
            elif c in JOINERS:
                if word:  # inside a word: the word goes on, a new part begins
                    parts.append([])
            else:
                flush()
    flush()
    return tokens


_ASCII_WORD = re.compile(r"[A-Za-z0-9]+(?:['`-]+[A-Za-z0-9]+)*")
_ASCII_JOINERS = re.compile(r"['`-]+")


def _scan_ascii(text: str) -> list[Token]:
    """``scan`` for an ASCII text, by one regex (most labels: the index's build time is
    mostly here). It gives what the character loop gives (tests/test_search_index.py
    proves it over generated texts)."""
    tokens = []
    for m in _ASCII_WORD.finditer(text):
        pieces = _ASCII_JOINERS.split(m.group().lower())
        tokens.append(Token("".join(pieces), m.start(), m.end(), False, tuple(pieces) if len(pieces) > 1 else ()))
    return tokens


def tokenise(text: str) -> list[str]:
    """The tokens the index holds for ``text``: normalised words, and each CJK character
    alone (a reader's 六号 is then a phrase of two tokens, found inside 嫦娥六号).

    >>> tokenise("SMILE: Solar wind–Magnetosphere Ionosphere Link Explorer")
    ['smile', 'solar', 'windmagnetosphere', 'ionosphere', 'link', 'explorer']
    >>> tokenise("太阳风-磁层"), tokenise("'quoted' -- and _under_score_"), tokenise("!!!")
    (['太', '阳', '风', '磁', '层'], ['quoted', 'and', 'under', 'score'], [])
    """
    return [t.text for t in scan(text)]


def _fts_text(tokens: Sequence[Token]) -> str:
    # The parts go after every token, so that a CJK run keeps its positions for phrases.
    return " ".join([t.text for t in tokens] + [p for t in tokens for p in t.parts])


def _quote(term: str) -> str:
    """An FTS5 string: whatever it holds is a term, never syntax."""
    return '"' + term.replace('"', '""') + '"'


def one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by at most one letter changed, added, dropped, or two
    neighbours swapped (optimal string alignment distance ≤ 1).

    >>> one_edit("einstien", "einstein"), one_edit("einsten", "einstein"), one_edit("ab", "ba")
    (True, True, True)
    >>> one_edit("abcd", "bcde"), one_edit("lunar", "solar")
    (False, False)
    """
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:] or (a[i + 1:i + 2] == b[i:i + 1] and a[i:i + 1] == b[i + 1:i + 2]
                                          and a[i + 2:] == b[i + 2:])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return short[i:] == long_[i + 1:]


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


# --- building ------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexStats:
    """What a build wrote: label entries, entities they belong to, seconds, file bytes."""

    entries: int
    entities: int
    seconds: float
    bytes: int


_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entity(iri TEXT PRIMARY KEY, degree INTEGER NOT NULL, types TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entity_type(type TEXT NOT NULL, iri TEXT NOT NULL, PRIMARY KEY (type, iri)) WITHOUT ROWID;
CREATE TABLE entry(id INTEGER PRIMARY KEY, iri TEXT NOT NULL, label TEXT NOT NULL, lang TEXT NOT NULL,
                   key TEXT NOT NULL, degree INTEGER NOT NULL);  -- the entity's, here too: ranked without a join
CREATE TABLE vocab(word TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE deletion(key TEXT NOT NULL, word TEXT NOT NULL, PRIMARY KEY (key, word)) WITHOUT ROWID;
CREATE VIRTUAL TABLE fts USING fts5(tokens, content='', tokenize='unicode61 remove_diacritics 2',
                                    prefix='2 3 4');
"""
_AFTER = "CREATE INDEX entry_key ON entry(key);"


@dataclass
class _Collected:
    labels: set[tuple[str, str, str]]  # (iri, lang, label)
    degree: dict[str, int]
    types: dict[str, set[str]]
    supers: dict[str, set[str]] = field(default_factory=dict)  # class → its rdfs:subClassOf

    def kinds(self, iri: str) -> set[str]:
        """The entity's stated types and every superclass of them (a ``type`` filter of a
        class finds the instances of its subclasses); cycles in the hierarchy are harmless."""
        seen: set[str] = set()
        todo = list(self.types.get(iri, ()))
        while todo:
            cls = todo.pop()
            if cls not in seen:
                seen.add(cls)
                todo.extend(self.supers.get(cls, ()))
        return seen


def _collect(quads: Iterable[ox.Quad]) -> _Collected:
    """One pass over the quads: the labels, and per IRI its types and how many quads name it."""
    got = _Collected(set(), {}, {})
    degree = got.degree
    for quad in quads:
        s, p, o = quad.subject, quad.predicate.value, quad.object
        if isinstance(s, ox.NamedNode):
            degree[s.value] = degree.get(s.value, 0) + 1
            if p == config.RDF_TYPE and isinstance(o, ox.NamedNode):
                got.types.setdefault(s.value, set()).add(o.value)
            elif p == SUBCLASS_OF and isinstance(o, ox.NamedNode):
                got.supers.setdefault(s.value, set()).add(o.value)
            elif p in LABEL_PREDICATES and isinstance(o, ox.Literal) and o.value.strip():
                got.labels.add((s.value, (o.language or "").lower(), o.value))
        if isinstance(o, ox.NamedNode):
            degree[o.value] = degree.get(o.value, 0) + 1
    return got


def _write(db: sqlite3.Connection, got: _Collected) -> tuple[int, int]:
    db.executescript(_SCHEMA)
    db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
    vocab: set[str] = set()
    entities: set[str] = set()
    rows, fts = [], []
    # Sorted, so the same graph gives the same file whatever order its quads came in.
    for n, (iri, lang, label) in enumerate(sorted(got.labels), start=1):
        if STATEMENT in got.types.get(iri, ()):
            continue  # a statement about a triple (a citation) is metadata, not a thing to find
        tokens = scan(label[:MAX_LABEL_CHARS])
        if not tokens:
            continue
        entities.add(iri)
        rows.append((n, iri, label, lang, " ".join(t.text for t in tokens), got.degree.get(iri, 0)))
        fts.append((n, _fts_text(tokens)))
        vocab.update(w for t in tokens if not t.cjk for w in (t.text, *t.parts))
    db.executemany("INSERT INTO entry VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.executemany("INSERT INTO fts(rowid, tokens) VALUES (?, ?)", fts)
    db.executemany("INSERT INTO entity VALUES (?, ?, ?)",
                   ((iri, got.degree.get(iri, 0), "\t".join(sorted(got.types.get(iri, ()))))
                    for iri in sorted(entities)))
    db.executemany("INSERT INTO entity_type VALUES (?, ?)",
                   ((t, iri) for iri in sorted(entities) for t in sorted(got.kinds(iri))))
    db.executemany("INSERT INTO vocab VALUES (?)", ((w,) for w in sorted(vocab)))
    db.executemany("INSERT INTO deletion VALUES (?, ?)",
                   ((k, w) for w in sorted(vocab) if len(w) >= MIN_TYPO_CHARS - 1
                    for k in sorted(_deletions(w) | {w})))
    db.execute(_AFTER)
    db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
    return len(rows), len(entities)


def build_index(quads: Iterable[ox.Quad], path: Path) -> IndexStats:
    """Write the label index of ``quads`` to ``path`` (an SQLite file), in time linear in
    the number of quads: complete or not at all — it is written beside ``path`` and renamed
    over it only once whole, so a failed build (the quads' iterator raising, a full disk)
    leaves whatever was there before, and no half-built file."""
    began = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        got = _collect(quads)
        db = sqlite3.connect(scratch)
        try:
            # No journal and no syncs while building: a crash loses only the scratch file.
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            with db:
                entries, entities = _write(db, got)
            db.execute("VACUUM")
        finally:
            db.close()
        with open(scratch, "rb") as f:
            os.fsync(f.fileno())  # on disk before it takes the name
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
        raise
    return IndexStats(entries, entities, time.perf_counter() - began, path.stat().st_size)


def build_for_snapshot(snapshot: BackendSpec, path: Path) -> IndexStats:
    """The index of what an engine serves (``Engine.snapshot``; see ``exports.snapshot_quads``)."""
    return build_index(exports.snapshot_quads(snapshot), path)


# --- searching -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """One entity found: the label that matched best (``snippet``: that label with the
    matched words marked «…»), its language ("" for none), the entity's rdf:types, and a
    score — higher is better, the rank class (3 exact, 2 prefix, 1 all words, 0 typo)
    plus a fraction growing with the entity's connectivity."""

    iri: str
    label: str
    lang: str
    types: tuple[str, ...]
    score: float
    snippet: str


EXACT, PREFIX, WORDS, TYPO = range(4)


@dataclass(frozen=True)
class _Query:
    match: str  # the FTS5 expression, every term quoted
    key: str  # the query's tokens as an entry's key holds them (exact and prefix rank)
    words: tuple[str, ...]  # typed words, as prefixes (for the snippet)
    typo_words: frozenset[str]  # indexed words a typo stood for
    chars: frozenset[str]  # CJK characters asked for

    @property
    def fuzzy(self) -> bool:
        return bool(self.typo_words)


# Best first; one entity may come several times (a label per language, altLabels): the
# caller keeps each entity's first row, asking for more rows while it has fewer than it needs.
_RANKED = f"""
WITH found AS (
    SELECT e.iri, e.label, e.lang, e.key, e.degree FROM fts JOIN entry e ON e.id = fts.rowid
    WHERE fts MATCH :match AND {{filters}} LIMIT {CANDIDATES}
), exact AS (
    SELECT e.iri, e.label, e.lang, e.key, e.degree FROM entry e WHERE e.key = :key AND {{filters}}
)
SELECT iri, label, lang,
       CASE WHEN key = :key THEN {EXACT} WHEN substr(key, 1, length(:key)) = :key THEN {PREFIX}
            ELSE :rest END AS class, degree
FROM (SELECT * FROM found UNION ALL SELECT * FROM exact)
ORDER BY class, degree DESC, label, iri, lang LIMIT :rows
"""
_LANG = "(:lang IS NULL OR e.lang = '' OR e.lang = :lang OR substr(e.lang, 1, length(:lang) + 1) = :lang || '-')"
_TYPE = "(:type IS NULL OR e.iri IN (SELECT iri FROM entity_type WHERE type = :type))"
_SQL = _RANKED.format(filters=f"{_LANG} AND {_TYPE}")


class SearchIndex:
    """A label index file opened read-only; ``search`` may be called from many threads at
    once (each thread reads through a connection of its own)."""

    def __init__(self, path: Path) -> None:
        """Open the index at ``path``: FileNotFoundError if there is none, ValueError if
        the file is not an index of this layout."""
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no search index at {self.path}")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            found = self._db().execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError as err:
            self.close()
            raise ValueError(f"{self.path} is not a search index: {err}") from None
        if found != (FORMAT,):
            self.close()
            raise ValueError(f"{self.path} is a search index of another layout ({found}); rebuild it")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # The file is only ever replaced by a rename, never changed in place: a reader
            # may skip locking (immutable) and keeps the file it opened.
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                 check_same_thread=False)  # used by its thread only; closed by close()
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        """Close every thread's connection (the index is not usable after)."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, text: str, lang: str | None = None, type_iri: str | None = None,
               limit: int = 10) -> list[Hit]:
        """The entities whose labels match ``text`` best, at most ``limit``: only labels in
        ``lang`` (or a sub-tag of it, or with no language) when given, only entities with
        rdf:type ``type_iri`` or a subclass of it (``rdfs:subClassOf`` in the graph) when given. Any text is a query:
        one with no word or character in it finds nothing."""
        limit = max(0, min(int(limit), 1000))
        db = self._db()
        query = self._query(db, text)
        if query is None or not limit:
            return []
        params = {"match": query.match, "key": query.key, "rest": TYPO if query.fuzzy else WORDS,
                  "lang": lang.lower() if lang else None, "type": type_iri}
        rows = limit * 4
        while True:
            found = db.execute(_SQL, {**params, "rows": rows}).fetchall()
            best: dict[str, tuple[str, str, str, int, int]] = {}
            for row in found:
                best.setdefault(row[0], row)
            if len(best) >= limit or len(found) < rows:
                break
            rows *= 4
        return [self._hit(db, query, *row) for row in list(best.values())[:limit]]

    def _query(self, db: sqlite3.Connection, text: str) -> _Query | None:
        tokens = scan(text[:MAX_QUERY_CHARS])
        terms: list[str] = []
        words: list[str] = []
        typo_words: set[str] = set()
        for group in _groups(tokens)[:MAX_TERMS]:
            if group[0].cjk:
                terms.append(_quote(" ".join(t.text for t in group)))
                continue
            word = group[0].text
            words.append(word)
            if len(word) == 1:
                terms.append(_quote(word))
            elif _has_prefix(db, word):
                terms.append(_quote(word) + " *")
            else:
                stands_for = _typo_words(db, word)
                if not stands_for:
                    return None
                typo_words.update(stands_for)
                terms.append("(" + " OR ".join(map(_quote, stands_for)) + ")")
        if not terms:
            return None
        return _Query(" AND ".join(terms), " ".join(t.text for t in tokens), tuple(words),
                      frozenset(typo_words), frozenset(t.text for t in tokens if t.cjk))

    @staticmethod
    def _hit(db: sqlite3.Connection, query: _Query, iri: str, label: str, lang: str, rank: int, degree: int) -> Hit:
        score = (TYPO - rank) + degree / (degree + 1)
        (types,) = db.execute("SELECT types FROM entity WHERE iri = ?", (iri,)).fetchone()
        return Hit(iri, label, lang, tuple(types.split("\t")) if types else (), score, _mark(label, query))


def _groups(tokens: Sequence[Token]) -> list[list[Token]]:
    """The query's terms: each word alone, each run of touching CJK characters together."""
    groups: list[list[Token]] = []
    for t in tokens:
        if t.cjk and groups and groups[-1][-1].cjk and groups[-1][-1].end == t.start:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


def _has_prefix(db: sqlite3.Connection, word: str) -> bool:
    row = db.execute("SELECT word FROM vocab WHERE word >= ? ORDER BY word LIMIT 1", (word,)).fetchone()
    return row is not None and str(row[0]).startswith(word)


def _typo_words(db: sqlite3.Connection, word: str) -> list[str]:
    """The indexed words ``word`` may be a one-typo spelling of (none under five letters)."""
    if len(word) < MIN_TYPO_CHARS:
        return []
    keys = sorted(_deletions(word) | {word})
    rows = db.execute(f"SELECT DISTINCT word FROM deletion WHERE key IN ({','.join('?' * len(keys))}) "
                      f"ORDER BY word LIMIT {MAX_TYPO_WORDS * 4}", keys)
    return [w for (w,) in rows if one_edit(word, w)][:MAX_TYPO_WORDS]


def _mark(label: str, query: _Query) -> str:
    """``label`` with the parts a query matched marked «…» (touching marks merged)."""
    spans: list[list[int]] = []
    for t in scan(label):
        if not _matches(t, query):
            continue
        if spans and not label[spans[-1][1]:t.start].strip():
            spans[-1][1] = t.end
        else:
            spans.append([t.start, t.end])
    out, at = [], 0
    for start, end in spans:
        out += [label[at:start], "«", label[start:end], "»"]
        at = end
    return "".join([*out, label[at:]])


def _matches(token: Token, query: _Query) -> bool:
    if token.cjk:
        return token.text in query.chars
    forms = (token.text, *token.parts)
    return any(f in query.typo_words or any(f.startswith(w) for w in query.words) for f in forms)

