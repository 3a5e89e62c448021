"""A fair share of the query workers for every client.

A *client* is whoever the web layer says sent the request (its address, the left-most
``X-Forwarded-For`` hop behind a trusted proxy, or an operator-issued API key: see
``spacecoop.web.clients``); it reaches the engine in ``current_caller``. Per client:

* at most ``concurrency`` queries run at once; more wait in the queue, at most ``queued``;
* at most ``budget`` seconds of query time in any rolling ``window`` seconds (like
  Wikidata's 60 s a minute), an API key multiplying both by its factor;
* the queue is fair: a free worker goes to the waiting client with the fewest queries
  running, then by its standing (below), then the least time used in the window — a
  client's next query waits behind the other clients' first ones;
* no query waits longer than ``max_wait`` for a worker.

Past a limit the query is refused with ``Refused`` (HTTP 429, a ``Retry-After`` and a one-line
reason), never a 5xx and never a hang. ``reserve`` workers beyond the general ones are kept for
clients known to be light (nothing running, their last query shorter than ``light_query``),
and the queue puts them first: then new clients (their first query), then greedy ones. A
client is known greedy by a long last query or by a refusal in the last ``refusal_memory``
seconds (a light client is not marked by a wait it could not help). So a client asking cheap
questions gets a worker at once however many greedy clients there are (their long queries
are demoted in CPU priority meanwhile: see ``store.DEMOTE_AFTER``).

>>> share = FairShare(slots=1, reserve=0, policy=Policy(concurrency=1, budget=2, window=60))
>>> ada = Client("ip:10.0.0.1", "10.0.0.1")
>>> import asyncio
>>> async def two_queries() -> str:
...     async with share.slot(ada):
...         pass
...     share.charge(ada, 2.5)  # as if the query had taken 2.5 s
...     try:
...         async with share.slot(ada):
...             return "ran"
...     except Refused as err:
...         return f"{err.status}: {err.message} (Retry-After {err.retry_after})"
>>> print(asyncio.run(two_queries()))  # doctest: +ELLIPSIS
429: this client has used 2.5 s of query time in the last 60 s, its budget; try again in ... s (Retry-After ...)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from spacecoop.engine.query_rules import QueryError


@dataclass(frozen=True)
class Client:
    """Who sent a query: ``key`` identifies it (``ip:…`` or ``key:…``), ``label`` is what
    the access log prints, ``factor`` multiplies its quotas (API keys)."""

    key: str
    label: str
    factor: float = 1.0


@dataclass
class Caller:
    """The client of the request being served, and how long its queries waited for a
    worker (seconds, for the access log): one mutable record the request's tasks share."""

    client: Client
    waited: float = 0.0


# Set by the web layer for the request being served; None (the CLI, the dumps' builder,
# start-up checks) means no fair-share accounting.
current_caller: ContextVar[Caller | None] = ContextVar("spacecoop_caller", default=None)


@dataclass(frozen=True)
class Policy:
    """The limits every client gets (an API key multiplies concurrency, queued and budget)."""

    concurrency: int = 2
    queued: int = 8
    budget: float = 60.0
    window: float = 60.0
    max_wait: float = 10.0
    light_query: float = 0.1
    refusal_memory: float = 10.0
    max_clients_waiting: int = 1000


KNOWN_LIGHT, NEW, GREEDY = 0, 1, 2  # a client's standing in the queue, first served first
FORGET_AFTER = 4096  # accounts kept before idle ones are forgotten


class Refused(QueryError):
    """HTTP 429: a fair-share limit; ``retry_after`` is when to try again (seconds)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(429, message)
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass
class _Account:
    client: Client
    running: int = 0
    waiting: collections.deque[_Waiter] = field(default_factory=collections.deque)
    used: collections.deque[tuple[float, float]] = field(default_factory=collections.deque)  # (ended, seconds)
    total: float = 0.0  # the seconds in ``used``
    last: float = 0.0  # how long its last query took
    finished: int = 0
    refused_at: float = -math.inf

    def usage(self, now: float, window: float) -> float:
        while self.used and self.used[0][0] <= now - window:
            self.total -= self.used.popleft()[1]
        return max(self.total, 0.0)


@dataclass
class _Waiter:
    future: asyncio.Future[bool]  # the result: True for a reserve slot
    since: float


class FairShare:
    """``slots`` general workers and ``reserve`` for light clients, shared fairly."""

    def __init__(self, slots: int, reserve: int, policy: Policy,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy, self.clock = policy, clock
        self.slots, self.reserve = slots, reserve
        self._free, self._reserve_free = slots, reserve
        self._accounts: dict[str, _Account] = {}
        self._tidied = 0.0
        self.refused = 0

    # -- what the metrics and the tests read ----------------------------------------
    @property
    def queued(self) -> int:
        return sum(len(a.waiting) for a in self._accounts.values())

    @property
    def running(self) -> int:
        return sum(a.running for a in self._accounts.values())

    # -- the one entry --------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(self, client: Client) -> AsyncIterator[float]:
        """Hold a worker's slot for ``client`` while the body runs (given the seconds it
        waited for it); charge the body's time after."""
        account = self._account(client)
        started = self.clock()
        reserve = await self._enter(account)
        began = self.clock()
        try:
            yield began - started
        finally:
            # Charged before the slot is handed on: the next one goes to whoever has used least.
            self.charge(client, self.clock() - began)
            self._leave(account, reserve)

    def within_budget(self, client: Client) -> None:
        """Refuse (``Refused``) a client past its query-time budget — for work that takes no
        worker but counts against the budget all the same (``charge`` it after)."""
        self._refuse_over_budget(self._account(client))

    def charge(self, client: Client, seconds: float) -> None:
        """Count ``seconds`` of query time against ``client``'s budget (also used for
        answers that need no worker, so that they count too)."""
        account = self._account(client)
        account.used.append((self.clock(), seconds))
        account.total += seconds
        account.last = seconds
        account.finished += 1
        self._forget_idle()

    # -- admission ------------------------------------------------------------------
    async def _enter(self, account: _Account) -> bool:
        self._refuse_over_budget(account)
        if not account.waiting and account.running < self._cap(account, self.policy.concurrency):
            taken = self._take(account)
            if taken is not None:
                account.running += 1
                return taken
        return await self._wait(account)

    def _refuse_over_budget(self, account: _Account) -> None:
        p, now = self.policy, self.clock()
        budget = p.budget * account.client.factor
        used = account.usage(now, p.window)
        if used < budget:
            return
        # When enough of the window's oldest time has aged out to leave room again.
        freed, retry = used, p.window
        for ended, seconds in account.used:
            freed -= seconds
            if freed < budget:
                retry = ended + p.window - now
                break
        self._refuse(account, f"this client has used {used:.1f} s of query time in the last {p.window:g} s, "
                              f"its budget; try again in {math.ceil(max(retry, 1))} s", retry)

    async def _wait(self, account: _Account) -> bool:
        p = self.policy
        if len(account.waiting) >= self._cap(account, p.queued):
            self._refuse(account, f"this client already has {len(account.waiting)} queries waiting; "
                                  "wait for their answers before sending more", 1)
        if self.queued >= p.max_clients_waiting:
            self._refuse(account, "the server's queue is full; try again in a moment", 2)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), self.clock())
        account.waiting.append(waiter)
        try:
            async with asyncio.timeout(p.max_wait):
                return await waiter.future
        except (TimeoutError, asyncio.CancelledError) as err:
            # Given up (the wait was too long, or the client left), maybe just as a slot was
            # handed over: the slot goes to the next client.
            if waiter.future.done() and not waiter.future.cancelled():
                self._leave(account, waiter.future.result())
            waiter.future.cancel()
            if isinstance(err, TimeoutError):
                self._refuse(account, f"no query worker came free for this client within {p.max_wait:g} s "
                                      "(the server is busy); try again later", p.max_wait,
                             mark=self._standing(account) == NEW)
            raise
        finally:
            with contextlib.suppress(ValueError):
                account.waiting.remove(waiter)

    def _refuse(self, account: _Account, message: str, retry_after: float, mark: bool = True) -> None:
        self.refused += 1
        if mark:
            account.refused_at = self.clock()
        raise Refused(message, retry_after)

    # -- slots ----------------------------------------------------------------------
    def _take(self, account: _Account) -> bool | None:
        """A free slot for ``account``: False a general one, True a reserve one, None none."""
        if self._free > 0:
            self._free -= 1
            return False
        if self._reserve_free > 0 and self._light(account):
            self._reserve_free -= 1
            return True
        return None

    def _light(self, account: _Account) -> bool:
        # Not a new client: a flood of new ones would hold the reserve with their first queries.
        return self._standing(account) == KNOWN_LIGHT

    def _standing(self, account: _Account) -> int:
        """KNOWN_LIGHT, NEW or GREEDY: the order in which waiting clients are served."""
        p = self.policy
        if account.running or self.clock() - account.refused_at <= p.refusal_memory:
            return GREEDY
        if not account.finished:
            return NEW
        return KNOWN_LIGHT if account.last < p.light_query else GREEDY

    def _leave(self, account: _Account, reserve: bool) -> None:
        account.running -= 1
        if reserve:
            self._reserve_free += 1
        else:
            self._free += 1
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to the waiting clients, fairest first."""
        while self._free > 0 or self._reserve_free > 0:
            account = self._next_waiting()
            if account is None:
                return
            reserve = self._take(account)
            if reserve is None:
                return
            waiter = account.waiting.popleft()
            account.running += 1
            waiter.future.set_result(reserve)

    def _next_waiting(self) -> _Account | None:
        """The waiting client with the fewest queries running, then by standing, then
        the least time used, then the one waiting longest; only a light one when just
        reserve slots are free."""
        now, window = self.clock(), self.policy.window
        candidates = [a for a in self._accounts.values()
                      if a.waiting and a.running < self._cap(a, self.policy.concurrency)
                      and (self._free > 0 or self._light(a))]
        for a in candidates:  # a waiter whose client has gone is dropped, not served
            while a.waiting and a.waiting[0].future.done():
                a.waiting.popleft()
        candidates = [a for a in candidates if a.waiting]
        if not candidates:
            return None
        return min(candidates, key=lambda a: (a.running, self._standing(a), a.usage(now, window),
                                              a.waiting[0].since))

    # -- accounts -------------------------------------------------------------------
    def _cap(self, account: _Account, limit: int) -> int:
        return max(1, int(limit * account.client.factor))

    def _account(self, client: Client) -> _Account:
        account = self._accounts.get(client.key)
        if account is None:
            account = self._accounts[client.key] = _Account(client)
        return account

    def _forget_idle(self) -> None:
        # Bounded memory under many clients: one with nothing running, waiting or used in
        # the window has nothing to remember (looked for at most once a second).
        now, window = self.clock(), self.policy.window
        if len(self._accounts) < FORGET_AFTER or now - self._tidied < 1:
            return
        self._tidied = now
        for key in [k for k, a in self._accounts.items()
                    if not a.running and not a.waiting and a.usage(now, window) == 0]:
            del self._accounts[key]
