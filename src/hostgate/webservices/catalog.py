"""The deployed models' catalogs, read from the management cluster on the caller's behalf (a ``CatalogSource``).

For each call, with the caller's own credentials (the ``Authorization`` header as received: HTTP Basic, or a
CLI login token), through the cluster's alias:

1. ``GET /api/v1/deployments``: which session servers serve which model, at which digest (the deployment
   records of management/deployments.py);
2. for a model whose catalog is not cached at that digest: ``POST /api/v1/tokens`` for one of its servers
   (the cluster checks the caller holds the User profile for the model; a refused model is not the caller's to
   see, so it is left out) and ``GET /api/v1/models/{name}/catalog`` on that server with the token; the next
   server on failure.

Catalogs are cached by (model, digest): a redeployed model has another digest, so its catalog is fetched
again; the cache holds nothing secret (what the model offers, not who may use it: access is asked of the
cluster on every call). A model none of whose servers answered is listed with its coded error
(``ModelCatalog.error``, HG-4550) rather than left out: a user looking for it learns why it is missing.

What is kept between calls (issue #19: a member's REST or SOAP call built a new cluster client, read the
deployments and asked for a token every time, over new TLS connections):

- one cluster client per caller (an HMAC of the credentials under a per-process key, never the password) and
  cluster, with its connections kept (``keep_alive``), for the event loop it was made on;
- the token a server was granted for the caller and model, reused while it has more than ``_RENEW_BEFORE``
  seconds to live and for at most ``_REUSE_FOR`` seconds (the credential check's own window, auth.py): a caller
  whose grant was removed may see the model's catalog that long, never call it (the call routes as the caller);
- the deployment records are read at every call: from the member's own copy of the cluster configuration
  (``deployments``, no round trip) inside a member, else from the cluster over the kept client. So a redeployed
  model is fetched at its new digest, and a withdrawn one refused, at the very next call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from hostgate.connector import ClusterClient, ClusterLocation
from hostgate.errors import (
    AuthenticationFailed,
    CatalogUnavailable,
    HostgateError,
    ModelNotDeployed,
    NotAuthorized,
    error_from_answer,
)
from hostgate.messages import API, SESSION, DeploymentView, RouteAnswer, TokenRequest, decode_answer
from hostgate.messages.catalog import ModelCatalog

__all__ = ["ClusterCatalog", "credentials_of"]

log = logging.getLogger("hostgate.webservices.catalog")

# Enough for every model of a large installation at once, few enough that a burst of Explorer visits does not
# open hundreds of TLS connections to session servers.
_CONCURRENT_FETCHES = 8
_CACHE_SIZE = 512
# Kept clients (each holds a connection per member it reached) and grants: bounded, the oldest go first.
_CLIENTS = 64
_GRANTS = 4096
# A token is renewed when it has less than this to live (a fetch that starts must not carry an expired one)...
_RENEW_BEFORE = 60.0
# ...and reused at most this long, whatever its lifetime: the window auth.py remembers a credential check.
_REUSE_FOR = 60.0


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str | None = None
    password: str | None = None
    bearer: str | None = None

    def fingerprint(self, key: bytes) -> bytes:
        """Who the caller is, without keeping the secret: HMAC-SHA256 under a per-process key."""
        raw = f"{self.user}\0{self.password}\0{self.bearer}".encode()
        return hmac.new(key, raw, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class _Grant:
    answer: RouteAnswer
    # Clock time: the earlier of _REUSE_FOR after it was granted and _RENEW_BEFORE before its expiry.
    reuse_until: float


def credentials_of(authorization: str | None) -> Credentials:
    """The caller's credentials from its ``Authorization`` header (Basic, or a Bearer login token); refused
    (HG-3001) when absent or malformed: the cluster decides who may see which model, so it must be asked as
    someone."""
    if not authorization:
        raise AuthenticationFailed(
            "the catalog of deployed models needs your credentials (HTTP Basic, or a CLI login token)"
        )
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return Credentials(bearer=value)
    if scheme.lower() == "basic":
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            sep = ""
        if sep:
            return Credentials(user, password)
    raise AuthenticationFailed("the Authorization header is malformed (expected Basic or Bearer)")


@dataclass(slots=True)
class ClusterCatalog:
    """A :class:`~hostgate.webservices.CatalogSource` over the cluster at ``location``.

    >>> source = ClusterCatalog(ClusterLocation("vhi-prod-sea", Path("ca.pem")))
    >>> [c.model for c in await source.models("Basic ...")]
    ['orders']
    """

    # The cluster, or how to find it at each call: the web services' cluster can change without a restart
    # (plugin-cfg.xml's serverName, re-read when the file changes).
    location: ClusterLocation | Callable[[], Awaitable[ClusterLocation]]
    # Reaching one session server (connect and answer); a server that does not answer in time is skipped.
    server_timeout: float = 5.0
    # The deployment records from this process's own copy of the cluster configuration (a member's); None:
    # asked of the cluster as the caller at every call.
    deployments: Callable[[], Sequence[DeploymentView]] | None = None
    # Wall-clock time, as a token's ``expires_at`` is (a test moves it).
    clock: Callable[[], float] = time.time
    # The same cluster as ``location`` without resolving its alias (None: ``location`` at every call). With it,
    # the alias is resolved (an unknown one refused) only when a client is made: a kept client's connections
    # resolve it themselves whenever they connect, and another serverName is another client.
    named: Callable[[], ClusterLocation] | None = None
    _cache: dict[tuple[str, str], ModelCatalog] = field(default_factory=dict, init=False, repr=False)
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32), init=False, repr=False)
    _clients: dict[tuple[str, str, bytes], tuple[asyncio.AbstractEventLoop, ClusterClient]] = field(
        default_factory=dict, init=False, repr=False
    )
    _grants: dict[tuple[str, str, bytes, str, str], _Grant] = field(
        default_factory=dict, init=False, repr=False
    )

    async def _where(self) -> ClusterLocation:
        return self.location if isinstance(self.location, ClusterLocation) else await self.location()

    async def _client(self, authorization: str | None) -> tuple[ClusterClient, ClusterLocation, bytes]:
        """The caller's kept client of the cluster at the current location (made on first use)."""
        who = credentials_of(authorization)
        location = self.named() if self.named is not None else await self._where()
        fingerprint = who.fingerprint(self._key)
        key = (location.alias, str(location.ca_file), fingerprint)
        loop = asyncio.get_running_loop()
        kept = self._clients.pop(key, None)
        if kept is not None and kept[0] is loop:
            self._clients[key] = kept  # most recently used last
            return kept[1], location, fingerprint
        if self.named is not None:  # a new client: its cluster's alias checked first (HG-4501 when unknown)
            location = await self._where()
            key = (location.alias, str(location.ca_file), fingerprint)
        # (A client of another event loop cannot be used, nor closed, on this one: it is dropped.)
        client = ClusterClient.at(
            location, user=who.user, password=who.password, bearer=who.bearer, keep_alive=True
        )
        if len(self._clients) >= _CLIENTS:
            oldest = next(iter(self._clients))  # dicts keep insertion order; a use moves a client last
            old_loop, old = self._clients.pop(oldest)
            if old_loop is loop:
                _close_later(old)
        self._clients[key] = (loop, client)
        return client, location, fingerprint

    async def _deployed(self, client: ClusterClient) -> dict[str, list[DeploymentView]]:
        if self.deployments is not None:
            return _by_model(self.deployments())
        return _by_model((await client.call(API.deployments, None)).payload)

    async def aclose(self) -> None:
        """Close the kept clients' connections (the process stops)."""
        kept, self._clients = self._clients, {}
        loop = asyncio.get_running_loop()
        for client_loop, client in kept.values():
            if client_loop is loop:
                await client.aclose()

    async def models(self, authorization: str | None) -> Sequence[ModelCatalog]:
        client, location, caller = await self._client(authorization)
        deployed = await self._deployed(client)
        gate = asyncio.Semaphore(_CONCURRENT_FETCHES)

        async def one(model: str, records: list[DeploymentView]) -> ModelCatalog | None:
            async with gate:
                try:
                    return await self._catalog(client, location, caller, model, records)
                except NotAuthorized:
                    return None  # not the caller's to use: not listed
                except (CatalogUnavailable, ModelNotDeployed) as exc:
                    return ModelCatalog(model=model, digest=_digest(records), error=str(exc))

        found = await asyncio.gather(*(one(m, r) for m, r in sorted(deployed.items())))
        return [c for c in found if c is not None]

    async def model(self, name: str, authorization: str | None) -> ModelCatalog:
        client, location, caller = await self._client(authorization)
        records = (await self._deployed(client)).get(name)
        if not records:
            raise ModelNotDeployed(f"the cluster records no session server serving model {name[:100]!r}")
        return await self._catalog(client, location, caller, name, records)

    async def _grant(
        self, client: ClusterClient, location: ClusterLocation, caller: bytes, model: str, server: str
    ) -> RouteAnswer:
        """A token for ``server`` and ``model`` granted to the caller: the cluster decides the caller's access
        here; a grant is reused while it is young and far from expiry (module docstring)."""
        key = (location.alias, str(location.ca_file), caller, model, server)
        now = self.clock()
        kept = self._grants.get(key)
        if kept is not None and now < kept.reuse_until:
            return kept.answer
        self._grants.pop(key, None)
        answer = (await client.call(API.grant_direct, TokenRequest(server, model))).payload
        if len(self._grants) >= _GRANTS:
            self._grants = {k: g for k, g in self._grants.items() if g.reuse_until > now}
            if len(self._grants) >= _GRANTS:
                self._grants.clear()
        self._grants[key] = _Grant(answer, min(now + _REUSE_FOR, answer.expires_at - _RENEW_BEFORE))
        return answer

    async def _catalog(
        self,
        client: ClusterClient,
        location: ClusterLocation,
        caller: bytes,
        model: str,
        records: list[DeploymentView],
    ) -> ModelCatalog:
        """The model's catalog at its recorded digest (cached), from the first of its servers that answers.
        A token is needed even on a cache hit: its grant is where the caller's access is decided."""
        digest = _digest(records)
        faults: list[str] = []
        for record in _preferred(records, digest):
            try:
                grant = await self._grant(client, location, caller, model, record.server)
            except NotAuthorized:
                raise
            except HostgateError as exc:
                faults.append(f"{record.server}: {exc}")
                continue
            cached = self._cache.get((model, record.digest))
            if cached is not None:
                return cached
            try:
                catalog = await self._fetch(location, grant.url, grant.token, model, record.server)
            except HostgateError as exc:
                faults.append(f"{record.server}: {exc}")
                continue
            self._remember(catalog)
            return catalog
        raise CatalogUnavailable(
            f"no session server serving model {model!r} answered with its catalog ({'; '.join(faults)})"
        )

    async def _fetch(
        self, location: ClusterLocation, url: str, token: str, model: str, server: str
    ) -> ModelCatalog:
        tls = location.server_tls()
        path = SESSION.catalog.url_path(name=model)
        try:
            async with httpx.AsyncClient(verify=tls, timeout=self.server_timeout) as http:
                resp = await http.get(url.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(
                f"session server {server} did not answer ({type(exc).__name__})"
            ) from exc
        if resp.status_code >= 400:
            raise error_from_answer(resp.content, resp.status_code)
        catalog: ModelCatalog = decode_answer(resp.content, ModelCatalog, f"session server {server} ({path})")
        return catalog

    def _remember(self, catalog: ModelCatalog) -> None:
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))  # the oldest: dicts keep insertion order
        self._cache[(catalog.model, catalog.digest)] = catalog


def _close_later(client: ClusterClient) -> None:
    """Close an evicted client's connections without holding up the call that evicted it."""
    task = asyncio.get_running_loop().create_task(client.aclose())
    task.add_done_callback(_retrieved)


def _retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # a member gone while its connection closes is no error


def _by_model(records: Sequence[DeploymentView]) -> dict[str, list[DeploymentView]]:
    found: dict[str, list[DeploymentView]] = {}
    for record in records:
        found.setdefault(record.model, []).append(record)
    return found


def _digest(records: Sequence[DeploymentView]) -> str:
    """The digest most of the model's servers serve (during a redeploy servers briefly differ)."""
    return Counter(r.digest for r in records).most_common(1)[0][0]


def _preferred(records: Sequence[DeploymentView], digest: str) -> list[DeploymentView]:
    """Servers serving the prevailing digest first, then the others (by name, for a stable order)."""
    return sorted(records, key=lambda r: (r.digest != digest, r.server))
