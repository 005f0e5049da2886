"""What both faces share: the catalog source, the invoker, the credential check, a static catalog for tests.

:class:`WebServices` is one value per process (a member's, or ``hostgate webservices``'s); the REST and SOAP
faces (rest.py, soap.py) are thin: they turn their request into a :class:`Target`, inputs and a caller, call
:meth:`WebServices.run`, and write the answer in their format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hostgate.connector import ClusterLocation
from hostgate.errors import AuthenticationFailed, ServiceNotFound
from hostgate.messages import Cell
from hostgate.messages.catalog import ModelCatalog, ProcedureInfo
from hostgate.webservices import CatalogSource
from hostgate.webservices.auth import Authenticator
from hostgate.webservices.invoke import Caller, CallResult, Invoker, Target

__all__ = ["StaticCatalog", "WebServices"]


class StaticCatalog:
    """A :class:`CatalogSource` over fixed catalogs (built from model files: ``describe(load_model(...))``)."""

    def __init__(self, catalogs: Sequence[ModelCatalog]) -> None:
        self._by_name = {c.model: c for c in catalogs}

    async def models(self, authorization: str | None) -> Sequence[ModelCatalog]:
        return list(self._by_name.values())

    async def model(self, name: str, authorization: str | None) -> ModelCatalog:
        found = self._by_name.get(name)
        if found is None:
            raise ServiceNotFound(f"no published model {name[:80]!r}")
        return found


@dataclass(frozen=True, slots=True)
class WebServices:
    catalogs: CatalogSource
    invoker: Invoker
    auth: Authenticator
    max_body: int = 1_048_576

    async def authenticated(
        self, caller: Caller | None, target: Target
    ) -> tuple[Caller, ClusterLocation | None]:
        """The caller checked (before any body is read) and the cluster for ``target``: with the cluster, or
        for a resumed session against the credentials that kept it (then no cluster: it stays where it is)."""
        if target.session_id:
            if caller is None:
                raise AuthenticationFailed("resuming a kept session needs the credentials that kept it")
            self.invoker.owner_check(caller, target.session_id)
            return caller, None
        location = await self.invoker.location(target)
        return await self.auth.check(location, caller), location

    async def procedure(self, model: str, name: str, authorization: str | None) -> ProcedureInfo:
        catalog = await self.catalogs.model(model, authorization)
        found = catalog.procedure(name)
        if found is None:
            raise ServiceNotFound(f"model {model[:80]!r} has no procedure {name[:80]!r}")
        return found

    async def aclose(self) -> None:
        """End the kept sessions and close the catalog source's kept connections (the process stops)."""
        await self.invoker.aclose()
        close = getattr(self.catalogs, "aclose", None)
        if close is not None:
            await close()

    async def run(
        self,
        caller: Caller,
        location: ClusterLocation | None,
        model: str,
        procedure: ProcedureInfo,
        inputs: Mapping[str, Cell],
        target: Target,
    ) -> CallResult:
        """Run a procedure for an authenticated caller at ``location`` (``invoker.location(target)``)."""
        return await self.invoker.call(caller, location, model, procedure, inputs, target)
