"""The rules every query passes before anything evaluates it, whichever route sent it.

The SPARQL endpoint, the linked-data pages, the saved queries and the command line all
reach the engine through ``Engine.run``, which applies these rules to the exact text that
will run (bindings already written in): read-only, a nesting cap, ``SERVICE`` only to the
operator's allow-list. The facts come from ``sparql_text.facts``, which reads the text as
the engine does.

>>> from spacecoop import config
>>> check("SELECT * { ?s ?p ?o }", config.Settings()).form
'SELECT'
>>> try:
...     check("SELECT * { SERVICE <http://127.0.0.1/> { ?s ?p ?o } }", config.Settings())
... except QueryError as err:
...     print(err.status, err.message)
400 SERVICE (federated query) is disabled on this endpoint: it never sends requests to other servers
"""

from __future__ import annotations

from collections.abc import Sequence

from spacecoop import config
from spacecoop.rdf.sparql_text import UPDATE_FORMS, Facts, facts


class QueryError(Exception):
    """A query that cannot be answered; ``status`` is the HTTP status to send."""

    retry_after: int | None = None  # seconds to suggest in ``Retry-After`` (429, some 503s)

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """The HTTP headers the error's answer carries (``Retry-After`` where it has one)."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


READ_ONLY = ("this endpoint is read-only: SPARQL Update (INSERT, DELETE, LOAD, CLEAR, "
             "DROP, CREATE, ADD, MOVE, COPY) is not allowed")


def check(query: str, settings: config.Settings, seen: Facts | None = None) -> Facts:
    """Refuse what must never run (updates, deep nesting, SERVICE off the allow-list); return
    the facts: ``seen`` when the caller has them already (the text's own: see ``Job``), else
    the scan of ``query`` (only once its length has passed)."""
    if not query.strip():
        raise QueryError(400, "the query is empty")
    if len(query.encode("utf-8", "surrogatepass")) > settings.max_request_bytes:
        raise QueryError(400, f"the query is longer than {settings.max_request_bytes:,} bytes")
    if seen is None or seen.text != query:
        seen = facts(query)
    if seen.unreadable:
        raise QueryError(400, "the query has too many '<' that could open an IRI or compare two values; "
                              "write comparisons with spaces around '<'")
    if seen.form in UPDATE_FORMS:
        raise QueryError(403, READ_ONLY)
    if seen.max_depth > settings.max_query_depth:
        raise QueryError(400, f"the query nests brackets {seen.max_depth} levels deep; "
                              f"the limit is {settings.max_query_depth}")
    check_service(seen, settings.service_allow_list)
    return seen


def check_service(seen: Facts, allow_list: Sequence[str]) -> None:
    """SERVICE is refused unless every call names, literally, an allow-listed endpoint.

    >>> check_service(facts("ASK { SERVICE <http://a/> {} }"), ["http://a/"])
    >>> try:
    ...     check_service(facts("ASK { SERVICE <http://b/> {} }"), ["http://a/"])
    ... except QueryError as err:
    ...     print(err.message)
    SERVICE <http://b/> is not allowed; this endpoint may federate only with: http://a/
    """
    if not seen.uses_service and not (allow_list and seen.ambiguous):
        return
    if not allow_list:
        raise QueryError(400, "SERVICE (federated query) is disabled on this endpoint: "
                              "it never sends requests to other servers")
    if seen.ambiguous:
        raise QueryError(400, "with federation enabled, write '<' comparisons with spaces around "
                              "them: this query could hide a SERVICE call from the allow-list check")
    if not seen.service_targets:
        raise QueryError(400, "SERVICE must name its endpoint with a full <IRI>")
    for target in seen.service_targets:
        if target is None:
            raise QueryError(400, "SERVICE must name its endpoint with a full <IRI> "
                                  "(no variables or prefixed names)")
        if target not in allow_list:
            raise QueryError(400, f"SERVICE <{target[:200]}> is not allowed; this endpoint may "
                                  f"federate only with: {', '.join(allow_list)}")


__all__ = ["READ_ONLY", "QueryError", "check", "check_service"]
