"""ETags are made one way (``web.etags``) and ``If-None-Match`` is read one way, for every
route: dumps, the context, linked-data documents, and GET answers tagged by the guard."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import httpx
import pytest

from spacecoop import config
from spacecoop.engine.store import Engine
from spacecoop.web import etags
from spacecoop.web.app import asgi_app

SMALL = """@prefix sc: <https://spacecoop.example/ontology#> .
@prefix scr: <https://spacecoop.example/resource/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
scr:probe a sc:Mission ; rdfs:label "Probe"@en .
"""


def test_a_strong_tag_changes_with_any_part_and_with_where_the_parts_meet() -> None:
    tag = etags.strong("v1", "/resource/probe", "ttl")
    assert tag == etags.strong(b"v1", "/resource/probe", b"ttl")  # text is hashed as UTF-8
    assert tag != etags.strong("v2", "/resource/probe", "ttl") != etags.strong("v1", "/resource/probe", "nt")
    assert etags.strong("ab", "c") != etags.strong("a", "bc")
    assert tag.startswith('"') and tag.endswith('"') and len(tag) == etags.TAG_CHARS + 2
    assert etags.weak("v1", "/resource/probe", "ttl") == "W/" + tag


def test_if_none_match_is_compared_weakly_and_star_only_matches_what_exists() -> None:
    assert etags.matches('"x", W/"a" ,"b"', '"a"', exists=False)
    assert etags.matches(b'"a"', 'W/"a"', exists=False)
    assert not etags.matches('"ab", "a b"', '"a"', exists=True)
    assert etags.matches("*", '"a"', exists=True) and not etags.matches("*", '"a"', exists=False)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    data = tmp_path_factory.mktemp("etags") / "probe.ttl"
    data.write_text(SMALL)
    engine = Engine(config.Settings(store="oxigraph", data_files=(str(data),), public_url="http://testserver"))
    engine.start_local()
    yield asgi_app(engine.settings, engine)
    engine.close()


def get(app: object, path: str, **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


@pytest.mark.parametrize("name", ["spacecoop.ttl", "spacecoop.nq.gz", "spacecoop.jsonld"])
def test_a_dumps_tag_is_the_digest_of_the_bytes_it_sends(app: object, name: str) -> None:
    r = get(app, f"/dumps/{name}")
    assert r.status_code == 200
    assert r.headers["etag"] == etags.from_digest(hashlib.sha256(r.content).hexdigest())
    again = get(app, f"/dumps/{name}", **{"If-None-Match": "W/" + r.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == r.headers["etag"] and not again.content


def test_the_dumps_list_names_each_file_by_the_tag_it_is_sent_with(app: object) -> None:
    listed = get(app, "/dumps/?format=json").json()["files"]
    assert listed and all(f["etag"] == get(app, f["href"]).headers["etag"] for f in listed[:3])


def test_the_contexts_tag_is_the_digest_of_its_bytes(app: object) -> None:
    r = get(app, "/context.jsonld")
    assert r.headers["etag"] == etags.strong(r.content)
    assert get(app, "/context.jsonld", **{"If-None-Match": r.headers["etag"]}).status_code == 304


def test_each_variant_of_a_document_has_its_own_tag_and_answers_304_to_it(app: object) -> None:
    tags = {ext: get(app, f"/resource/probe.{ext}").headers["etag"] for ext in ("ttl", "nt", "jsonld", "html")}
    assert len(set(tags.values())) == len(tags)
    negotiated = get(app, "/resource/probe", accept="application/n-triples")
    assert negotiated.headers["etag"] == tags["nt"]
    assert get(app, "/resource/probe.nt", **{"If-None-Match": f'"other", {tags["nt"]}'}).status_code == 304


def test_a_get_answer_carries_a_weak_tag_of_its_request(app: object) -> None:
    path = "/sparql?query=ASK%7B%3Fs%20%3Fp%20%3Fo%7D"
    first = get(app, path, accept="application/sparql-results+json")
    other = get(app, path, accept="application/sparql-results+xml")
    assert first.headers["etag"].startswith('W/"') and first.headers["etag"] != other.headers["etag"]
    # The strong spelling of the same tag matches too (If-None-Match compares weakly).
    again = get(app, path, accept="application/sparql-results+json",
                **{"If-None-Match": first.headers["etag"].removeprefix("W/")})
    assert again.status_code == 304
