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
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
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
    error_from_payload,
)
from hostgate.messages import API, SESSION, DeploymentView, TokenRequest, decode_answer
from hostgate.messages.catalog import ModelCatalog

__all__ = ["ClusterCatalog", "credentials_of"]

log = logging.getLogger("hostgate.webservices.catalog")

# Enough for every model of a large installation at once, few enough that a burst of Explorer visits does not
# open hundreds of TLS connections to session servers.
_CONCURRENT_FETCHES = 8
_CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str | None = None
    password: str | None = None
    bearer: str | None = None


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
    _cache: dict[tuple[str, str], ModelCatalog] = field(default_factory=dict, init=False, repr=False)

    async def _where(self) -> ClusterLocation:
        return self.location if isinstance(self.location, ClusterLocation) else await self.location()

    async def _client(self, authorization: str | None) -> tuple[ClusterClient, ClusterLocation]:
        who = credentials_of(authorization)
        location = await self._where()
        client = ClusterClient.at(location, user=who.user, password=who.password, bearer=who.bearer)
        return client, location

    async def models(self, authorization: str | None) -> Sequence[ModelCatalog]:
        client, location = await self._client(authorization)
        deployed = _by_model((await client.call(API.deployments, None)).payload)
        gate = asyncio.Semaphore(_CONCURRENT_FETCHES)

        async def one(model: str, records: list[DeploymentView]) -> ModelCatalog | None:
            async with gate:
                try:
                    return await self._catalog(client, location, model, records)
                except NotAuthorized:
                    return None  # not the caller's to use: not listed
                except (CatalogUnavailable, ModelNotDeployed) as exc:
                    return ModelCatalog(model=model, digest=_digest(records), error=str(exc))

        found = await asyncio.gather(*(one(m, r) for m, r in sorted(deployed.items())))
        return [c for c in found if c is not None]

    async def model(self, name: str, authorization: str | None) -> ModelCatalog:
        client, location = await self._client(authorization)
        listed = (await client.call(API.deployments, None)).payload
        records = _by_model(listed).get(name)
        if not records:
            raise ModelNotDeployed(f"the cluster records no session server serving model {name[:100]!r}")
        return await self._catalog(client, location, name, records)

    async def _catalog(
        self, client: ClusterClient, location: ClusterLocation, model: str, records: list[DeploymentView]
    ) -> ModelCatalog:
        """The model's catalog at its recorded digest (cached), from the first of its servers that answers.
        The cluster is asked for a token even on a cache hit: that is where the caller's access is decided."""
        digest = _digest(records)
        faults: list[str] = []
        for record in _preferred(records, digest):
            try:
                grant = (await client.call(API.grant_direct, TokenRequest(record.server, model))).payload
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
            try:
                payload: object = resp.json()
            except ValueError:
                payload = None
            raise error_from_payload(payload, resp.status_code)
        catalog: ModelCatalog = decode_answer(resp.content, ModelCatalog, f"session server {server} ({path})")
        return catalog

    def _remember(self, catalog: ModelCatalog) -> None:
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))  # the oldest: dicts keep insertion order
        self._cache[(catalog.model, catalog.digest)] = catalog


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
