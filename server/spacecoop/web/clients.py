"""Who sent a request: the client the engine's fair share (``engine.fair_share``) counts.

* By default a client is the address the connection comes from — for IPv6 its /64
  network, the block one subscriber is given, so that one machine cannot be a million
  clients.
* Behind a reverse proxy the operator lists (``SPACECOOP_TRUSTED_PROXIES``: addresses or
  networks), it is the left-most ``X-Forwarded-For`` hop — the address the proxy saw the
  request come from. The header is believed only from a listed proxy; anyone else could
  write any address into it.
* An operator-issued API key (``SPACECOOP_API_KEYS``: ``name:key[:factor]`` entries; the
  factor, 4 by default, multiplies the client's quotas) sent as ``X-API-Key: KEY`` or
  ``Authorization: Bearer KEY`` makes the client that key, wherever it comes from. An
  unknown key is refused (401) rather than quietly counted as an address.

>>> ids = Identities(trusted_proxies=("10.0.0.0/8",), api_keys=("alice:s3cret:10",))
>>> ids.client("192.0.2.7", None, None).label
'192.0.2.7'
>>> ids.client("10.1.2.3", "203.0.113.9, 10.1.2.3", None).label  # from a listed proxy
'203.0.113.9'
>>> ids.client("192.0.2.7", "203.0.113.9", None).label  # anyone else's header is ignored
'192.0.2.7'
>>> ids.client("2001:db8:1:2::7", None, None).key == ids.client("2001:db8:1:2:ffff::9", None, None).key
True
>>> ids.client("192.0.2.7", None, "s3cret")
Client(key='key:alice', label='key:alice', factor=10.0)
"""

from __future__ import annotations

import hmac
import ipaddress
import math
from collections.abc import Sequence

from spacecoop import config
from spacecoop.engine.fair_share import Caller, Client, current_caller
from spacecoop.web.middleware import ASGIApp, Receive, Scope, Send, error_body, header

DEFAULT_KEY_FACTOR = 4.0
SCOPE_KEY = "spacecoop.caller"  # where the access log finds the request's Caller


class UnknownKey(ValueError):
    """An API key the operator did not issue."""


class Identities:
    """The operator's proxies and keys, parsed once; ``client`` names a request's client."""

    def __init__(self, trusted_proxies: Sequence[str] = (), api_keys: Sequence[str] = ()) -> None:
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.keys: dict[str, Client] = {}
        for entry in api_keys:
            name, sep, rest = entry.partition(":")
            key, _, factor = rest.partition(":")
            if not (sep and name and key):
                raise ValueError(f"SPACECOOP_API_KEYS: {entry!r} is not name:key or name:key:factor")
            try:
                quota = float(factor) if factor else DEFAULT_KEY_FACTOR
            except ValueError:
                quota = math.nan
            if not quota > 0:
                raise ValueError(f"SPACECOOP_API_KEYS: the factor of {name!r} is not a positive number")
            self.keys[key] = Client(f"key:{name}", f"key:{name}", quota)

    @classmethod
    def from_settings(cls, settings: config.Settings) -> Identities:
        """The identities ``settings`` configure (a ValueError names a malformed entry)."""
        try:
            return cls(settings.trusted_proxies, settings.api_keys)
        except ValueError as err:
            message = str(err)
            raise ValueError(message if "SPACECOOP_" in message else f"SPACECOOP_TRUSTED_PROXIES: {message}") from None

    def client(self, peer: str, forwarded_for: str | None, api_key: str | None) -> Client:
        """The client of a request from ``peer`` with these headers (UnknownKey for a key not issued)."""
        if api_key is not None:
            return self._keyed(api_key)
        address = peer
        if forwarded_for and self._trusted(peer):
            hop = forwarded_for.split(",", 1)[0].strip()
            if _is_address(hop):
                address = hop
        return Client(f"ip:{_network(address)}", address)

    def _keyed(self, api_key: str) -> Client:
        # Compared in constant time: how long a wrong key takes tells nothing of the right ones.
        for key, client in self.keys.items():
            if hmac.compare_digest(key.encode(), api_key.encode()):
                return client
        raise UnknownKey("unknown API key: send one the operator issued, or none")

    def _trusted(self, peer: str) -> bool:
        if not self.proxies or not _is_address(peer):
            return False
        address = ipaddress.ip_address(peer)
        return any(address in network for network in self.proxies)


def _network(address: str) -> str:
    """The block an address is counted under: itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (a test client's name): itself
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return address


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def api_key_of(scope: Scope) -> str | None:
    """The API key a request sends (``X-API-Key``, or ``Authorization: Bearer``), if any."""
    key = _text_header(scope, b"x-api-key")
    if key is not None:
        return key.strip()
    auth = _text_header(scope, b"authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def _text_header(scope: Scope, name: bytes) -> str | None:
    value = header(scope, name)
    return None if value is None else value.decode("latin-1")


class ClientIdentity:
    """ASGI layer: names each HTTP request's client for the engine (``current_caller``) and
    the access log (``scope[SCOPE_KEY]``); an unknown API key is answered 401 here."""

    def __init__(self, app: ASGIApp, identities: Identities) -> None:
        self.app, self.identities = app, identities

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        peer = scope["client"][0] if scope.get("client") else "unknown"
        try:
            client = self.identities.client(peer, _text_header(scope, b"x-forwarded-for"), api_key_of(scope))
        except UnknownKey as err:
            await _refuse(send, 401, str(err))
            return
        caller = Caller(client)
        scope[SCOPE_KEY] = caller
        token = current_caller.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            current_caller.reset(token)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = error_body(status, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), (b"www-authenticate", b'Bearer realm="spacecoop"')]})
    await send({"type": "http.response.body", "body": body})
