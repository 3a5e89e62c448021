"""A fair share of the workers per client: the policy itself, then real servers and real
clients, each client on its own loopback address (Linux routes all of 127/8 to ``lo``)."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from spacecoop import config
from spacecoop.engine.fair_share import Client, FairShare, Policy, Refused
from spacecoop.web.clients import Identities

from .conftest import LiveServer

ADA, BOB, CY = (Client(f"ip:10.0.0.{i}", f"10.0.0.{i}") for i in (1, 2, 3))


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


# --- the policy, in one event loop ------------------------------------------------------
async def hold(share: FairShare, client: Client, order: list[str], name: str, release: asyncio.Event,
               clock: list[float] | None = None) -> None:
    """Hold a slot until ``release``; on a fake ``clock``, the hold takes 1 s."""
    async with share.slot(client):
        order.append(name)
        await release.wait()
        if clock is not None:
            clock[0] += 1


def test_a_clients_next_query_waits_behind_another_clients_first() -> None:
    async def scenario() -> list[str]:
        now = [0.0]
        share = FairShare(slots=1, reserve=0, policy=Policy(concurrency=1, queued=8), clock=lambda: now[0])
        order: list[str] = []
        release = asyncio.Event()
        tasks = [asyncio.create_task(hold(share, ADA, order, "ada-1", release, now))]
        await asyncio.sleep(0)
        tasks += [asyncio.create_task(hold(share, ADA, order, f"ada-{i}", release, now)) for i in (2, 3)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(hold(share, BOB, order, "bob-1", release)))
        await asyncio.sleep(0)
        assert share.queued == 3 and share.running == 1
        release.set()
        await asyncio.gather(*tasks)
        return order

    # Bob asked after Ada's second and third, but Ada has just had a long query: he goes first.
    assert run(scenario()) == ["ada-1", "bob-1", "ada-2", "ada-3"]


def test_the_reserve_goes_to_a_client_with_nothing_running_whose_last_query_was_short() -> None:
    async def scenario() -> tuple[list[str], bool]:
        share = FairShare(slots=1, reserve=1, policy=Policy(concurrency=4, light_query=0.1))
        order: list[str] = []
        release = asyncio.Event()
        share.charge(ADA, 3)  # Ada's last query took 3 s: not light
        share.charge(BOB, 0.01)  # Bob's took 10 ms
        greedy = [asyncio.create_task(hold(share, ADA, order, f"ada-{i}", release)) for i in (1, 2)]
        await asyncio.sleep(0)
        ada_waits = share.queued == 1  # the reserve is not hers
        polite = asyncio.create_task(hold(share, BOB, order, "bob-1", release))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(*greedy, polite)
        return order, ada_waits

    order, ada_waits = run(scenario())
    assert ada_waits
    assert order[:2] == ["ada-1", "bob-1"]  # Bob took the reserve while Ada's first ran


def test_a_new_client_waits_for_a_general_worker_but_ahead_of_greedy_ones() -> None:
    async def scenario() -> list[str]:
        now = [0.0]
        share = FairShare(slots=1, reserve=1, policy=Policy(concurrency=4), clock=lambda: now[0])
        order: list[str] = []
        release = asyncio.Event()
        tasks = [asyncio.create_task(hold(share, ADA, order, f"ada-{i}", release, now)) for i in (1, 2)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(hold(share, CY, order, "cy-1", release)))  # new: not the reserve
        await asyncio.sleep(0)
        assert order == ["ada-1"] and share.queued == 2
        release.set()
        await asyncio.gather(*tasks)
        return order

    assert run(scenario()) == ["ada-1", "cy-1", "ada-2"]


def test_past_the_budget_a_client_is_refused_with_when_to_come_back() -> None:
    now = [1000.0]
    share = FairShare(slots=2, reserve=0, policy=Policy(budget=10, window=60), clock=lambda: now[0])
    share.charge(ADA, 6)
    now[0] += 20
    share.charge(ADA, 6)

    async def ask(client: Client) -> str:
        async with share.slot(client):
            return "ran"

    with pytest.raises(Refused) as refused:
        run(ask(ADA))
    assert refused.value.status == 429
    assert "12.0 s of query time in the last 60 s" in refused.value.message
    assert refused.value.retry_after == 40  # when the first 6 s leave the window
    assert run(ask(BOB)) == "ran"  # others are not affected
    now[0] += 41
    assert run(ask(ADA)) == "ran"  # the window has moved on
    assert share.refused == 1


def test_an_api_key_multiplies_the_budget() -> None:
    share = FairShare(slots=1, reserve=0, policy=Policy(budget=10))
    keyed = Client("key:alice", "key:alice", factor=3)
    share.charge(keyed, 25)
    share.charge(ADA, 25)

    async def ask(client: Client) -> str:
        async with share.slot(client):
            return "ran"

    assert run(ask(keyed)) == "ran"
    with pytest.raises(Refused):
        run(ask(ADA))


def test_a_client_with_too_many_waiting_is_refused_at_once() -> None:
    async def scenario() -> str:
        share = FairShare(slots=1, reserve=0, policy=Policy(concurrency=1, queued=2))
        release = asyncio.Event()
        order: list[str] = []
        tasks = [asyncio.create_task(hold(share, ADA, order, str(i), release)) for i in range(3)]
        await asyncio.sleep(0)
        try:
            async with share.slot(ADA):
                return "ran"
        except Refused as err:
            return f"{err.status} {err.message}"
        finally:
            release.set()
            await asyncio.gather(*tasks)

    assert run(scenario()) == (
        "429 this client already has 2 queries waiting; wait for their answers before sending more")


def test_a_wait_past_the_bound_is_a_429_and_frees_its_place() -> None:
    async def scenario() -> tuple[str, int, str]:
        share = FairShare(slots=1, reserve=0, policy=Policy(max_wait=0.05))
        release = asyncio.Event()
        busy = asyncio.create_task(hold(share, ADA, [], "ada", release))
        await asyncio.sleep(0)
        try:
            async with share.slot(BOB):
                outcome = "ran"
        except Refused as err:
            outcome = f"{err.status} {err.message} {err.retry_after}"
        waiting = share.queued
        release.set()
        await busy
        async with share.slot(CY):  # the slot is whole again
            after = "ran"
        return outcome, waiting, after

    outcome, waiting, after = run(scenario())
    assert outcome.startswith("429 no query worker came free for this client within 0.05 s")
    assert (waiting, after) == (0, "ran")


def test_a_client_that_leaves_while_waiting_gives_up_its_place() -> None:
    async def scenario() -> tuple[int, list[str]]:
        share = FairShare(slots=1, reserve=0, policy=Policy())
        release = asyncio.Event()
        order: list[str] = []
        busy = asyncio.create_task(hold(share, ADA, order, "ada", release))
        await asyncio.sleep(0)
        gone = asyncio.create_task(hold(share, BOB, order, "bob", release))
        stays = asyncio.create_task(hold(share, CY, order, "cy", release))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(busy, stays)
        return share.queued + share.running, order

    assert run(scenario()) == (0, ["ada", "cy"])


# --- real servers, real clients on their own addresses ------------------------------------
HEAVY = ('SELECT (COUNT(*) AS ?n) WHERE {{ {{ SELECT ?c WHERE {{ ?a ?b ?c }} LIMIT 500 }} ?d ?e ?f '
         'FILTER(STR(?f) != CONCAT(STR(?c), "{tag}")) }}')  # ~0.3 s of a worker on the bundled graph
CHEAP = "ASK {{ ?s ?p \"{tag}\" }}"
counter = itertools.count()


def new(template: str) -> str:
    """A query text the server has not seen (no cache, no remembered answer)."""
    return template.format(tag=f"x{next(counter)}-{time.time_ns()}")


def from_address(address: str, **options: object) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def crowded() -> Iterator[LiveServer]:
    """Two general workers and one reserve; one query at a time per client, 3 s at most in
    the queue, 0.5 s of query time a minute."""
    srv = LiveServer("--workers", "2", env={"SPACECOOP_RESERVE_WORKERS": "1", "SPACECOOP_CLIENT_CONCURRENCY": "1",
                                            "SPACECOOP_QUEUE_WAIT": "3", "SPACECOOP_CLIENT_BUDGET": "0.5"})
    srv.dumps_ready()  # the dumps' builder is not one more process competing for the cores
    yield srv
    srv.stop()


class Greedy(threading.Thread):
    """New heavy queries back to back from one address until stopped."""

    def __init__(self, url: str, address: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.address, self.stop = url, address, stop
        self.statuses: list[int] = []
        self.retry_after: list[str | None] = []

    def run(self) -> None:
        with from_address(self.address) as c:
            while not self.stop.is_set():
                r = c.get(self.url + "/sparql", params={"query": new(HEAVY)})
                self.statuses.append(r.status_code)
                if r.status_code == 429:
                    self.retry_after.append(r.headers.get("retry-after"))
                    time.sleep(0.05)


@pytest.mark.live
@pytest.mark.parametrize("greedy", [8, 16])
def test_a_polite_client_is_answered_while_greedy_ones_flood(crowded: LiveServer, greedy: int) -> None:
    stop = threading.Event()
    flood = [Greedy(crowded.url, f"127.0.0.{10 + i}", stop) for i in range(greedy)]
    polite: list[int] = []
    with from_address("127.0.0.2") as c:
        # Known to the server by a cheap question asked before the flood (a client new to it
        # waits for a general worker, ahead of the greedy ones: see fair_share).
        assert c.get(crowded.url + "/sparql", params={"query": new(CHEAP)}).status_code == 200
        for g in flood:
            g.start()
        time.sleep(0.6)  # the flood is under way: every general worker busy, a queue behind them
        try:
            for _ in range(20):
                polite.append(c.get(crowded.url + "/sparql", params={"query": new(CHEAP)}).status_code)
                time.sleep(0.05)
        finally:
            stop.set()
            for g in flood:
                g.join(30)
    statuses = [s for g in flood for s in g.statuses]
    # Every polite question answered: none refused, none waited past the 3 s bound.
    assert polite == [200] * 20
    # The greedy ones were told to wait (429 with Retry-After), never a server error.
    assert set(statuses) <= {200, 429}, statuses
    assert 429 in statuses and 200 in statuses
    assert all(ra and ra.isdigit() and int(ra) >= 1 for g in flood for ra in g.retry_after)


@pytest.fixture(scope="module")
def frugal() -> Iterator[LiveServer]:
    """A budget of 1 s of query time a minute per client; behind a proxy at 127.0.0.1; one key."""
    srv = LiveServer(env={"SPACECOOP_CLIENT_BUDGET": "1", "SPACECOOP_TRUSTED_PROXIES": "127.0.0.1/32",
                          "SPACECOOP_API_KEYS": "alice:open-sesame:3"})
    yield srv
    srv.stop()


def spend_budget(c: httpx.Client, url: str, **headers: str) -> httpx.Response:
    """Heavy queries until one is refused (or 20 were answered)."""
    for _ in range(20):
        r = c.get(url + "/sparql", params={"query": new(HEAVY)}, headers=headers)
        if r.status_code != 200:
            return r
    return r


@pytest.mark.live
def test_past_its_budget_a_client_gets_429_and_others_do_not(frugal: LiveServer) -> None:
    with from_address("127.0.0.21") as spender, from_address("127.0.0.22") as other:
        r = spend_budget(spender, frugal.url)
        assert r.status_code == 429
        assert re.fullmatch(r"this client has used \d+\.\d s of query time in the last 60 s, its budget; "
                            r"try again in \d+ s", r.json()["message"]), r.json()
        assert int(r.headers["retry-after"]) >= 1
        assert other.get(frugal.url + "/sparql", params={"query": new(HEAVY)}).status_code == 200


@pytest.mark.live
def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_budget(frugal: LiveServer) -> None:
    with from_address("127.0.0.1") as proxy, from_address("127.0.0.23") as stranger:
        assert spend_budget(proxy, frugal.url, **{"X-Forwarded-For": "203.0.113.7, 127.0.0.1"}).status_code == 429
        # Another address forwarded by the proxy is another client, with a whole budget.
        r = proxy.get(frugal.url + "/sparql", params={"query": new(HEAVY)},
                      headers={"X-Forwarded-For": "203.0.113.8"})
        assert r.status_code == 200
        # From a host that is not a listed proxy the header is ignored: it cannot borrow
        # the exhausted client's name to be refused, nor a fresh name to escape its own.
        assert spend_budget(stranger, frugal.url, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 429
        r = stranger.get(frugal.url + "/sparql", params={"query": new(HEAVY)},
                         headers={"X-Forwarded-For": "198.51.100.1"})
        assert r.status_code == 429


@pytest.mark.live
def test_an_api_key_is_its_own_client_with_a_larger_budget_and_an_unknown_one_is_401(frugal: LiveServer) -> None:
    with from_address("127.0.0.24") as c:
        assert spend_budget(c, frugal.url).status_code == 429  # the address's budget is spent
        keyed = c.get(frugal.url + "/sparql", params={"query": new(HEAVY)},
                      headers={"Authorization": "Bearer open-sesame"})
        assert keyed.status_code == 200
        wrong = c.get(frugal.url + "/sparql", params={"query": "ASK {}"}, headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401 and wrong.json()["message"].startswith("unknown API key")
        assert "open-sesame" not in wrong.text


@pytest.mark.parametrize("env,words", [
    ({"SPACECOOP_TRUSTED_PROXIES": "10.0.0.0/8 not-an-address"}, "SPACECOOP_TRUSTED_PROXIES: 'not-an-address'"),
    ({"SPACECOOP_API_KEYS": "alice"}, "SPACECOOP_API_KEYS: 'alice' is not name:key or name:key:factor"),
    ({"SPACECOOP_API_KEYS": "alice:k:0"}, "SPACECOOP_API_KEYS: the factor of 'alice' is not a positive number"),
])
def test_a_malformed_proxy_or_key_setting_is_refused_in_one_line(env: dict[str, str], words: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as refused:
        Identities.from_settings(config.Settings())
    assert str(refused.value).startswith(words) and "\n" not in str(refused.value)
