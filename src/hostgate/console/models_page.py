"""The console's Models and deployments page (issue #20): the deployed models (name, digest, description),
where each is deployed (per session server and per domain), activating and deactivating one per server or
per domain, and links to its web services (the Web Services Explorer, its WSDL and OpenAPI document).

What is deployed is the cluster's deployment records (management/deployments.py, from this member's memory,
as ``GET /api/v1/deployments``: any login reads them). A model's description comes from its catalog, asked of
a live server that serves it as the console's user (so only a user the model is granted to sees it; cached by
digest: console/session_servers.py).

Activating and deactivating go the way ``hostgate activatemodel`` / ``deactivatemodel`` go (session/deployer.py):
to the session server itself, with the console user's credentials (a short-lived login token) that it forwards
to the cluster, which checks the Developer profile on the server or the model, records the change and audits
it. The console checks the same profile first (``Access.require``: a User-profile login is refused with
HG-3002 before any server is asked) and leaves its own audit entry (``console.model.*``). A domain is each of
its servers in turn; a failure on some is HG-6202 naming each server's error, the others stay changed (what
``deactivatemodel --domain`` would leave too).

Activation takes the model's text (pasted or loaded into the form): the cluster stores digests, not models,
and a withdrawn model's file is gone from its server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hostgate.console.session_servers import SessionServers
from hostgate.console.web import Ctx, Page
from hostgate.errors import DeploymentIncomplete, HostgateError, UsageError
from hostgate.management.access import Profile
from hostgate.messages import DeploymentAnswer

__all__ = ["ModelsPages"]

_MAX_TEXT = 60 * 1024  # under the console's form cap (console/web.py), which bounds what a POST may carry


@dataclass(frozen=True, slots=True)
class Placement:
    server: str
    digest: str
    deployed_by: str
    deployed_at: str  # UTC
    live: bool


@dataclass(frozen=True, slots=True)
class DomainPlacement:
    domain: str
    servers: int  # servers of the domain serving the model
    of: int  # servers in the domain


@dataclass(frozen=True, slots=True)
class Links:
    explorer: str
    wsdl: str
    openapi: str


@dataclass(frozen=True, slots=True)
class ModelRow:
    name: str
    digest: str  # the digest most of its servers serve
    mixed: bool  # its servers serve different digests (a redeploy in progress, or one that failed somewhere)
    description: str
    placements: tuple[Placement, ...]
    domains: tuple[DomainPlacement, ...]
    links: Links


@dataclass(frozen=True, slots=True)
class Models:
    models: tuple[ModelRow, ...]
    servers: tuple[str, ...]  # registered session servers (activation targets)
    domains: tuple[str, ...]
    can_deploy: bool  # Developer (or Administrator) cluster-wide: the forms are shown


class ModelsPages:
    """The page view and its two actions, over one :class:`SessionServers` (app.py routes them)."""

    def __init__(self, servers: SessionServers) -> None:
        self._servers = servers

    async def _description(self, ctx: Ctx, model: str, placements: list[Placement], digest: str) -> str:
        for p in placements:
            if not p.live or p.digest != digest:
                continue
            try:
                return (await self._servers.catalog(ctx.who, p.server, model, digest)).description
            except HostgateError:
                continue  # not granted to this login, or the server did not answer: no description
        return ""

    async def listing(self, ctx: Ctx) -> Page:
        service = ctx.service
        by_model: dict[str, list[Placement]] = {}
        for r in service.deployments.list():
            by_model.setdefault(r.model, []).append(
                Placement(
                    r.server, r.digest, r.deployed_by,
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.deployed_at)),
                    service.router.is_live(r.server),
                )
            )  # fmt: skip
        domains = sorted(service.domains.domains(), key=lambda d: d.name)
        rows = []
        for name in sorted(by_model):
            placements = by_model[name]
            digests = [p.digest for p in placements]
            digest = max(set(digests), key=digests.count)
            serving = {p.server for p in placements}
            in_domains = tuple(
                DomainPlacement(d.name, sum(1 for m in d.members if m.server in serving), len(d.members))
                for d in domains
                if any(m.server in serving for m in d.members)
            )
            quoted = name.replace("/", "%2F")
            links = Links(
                f"/ws/explorer#model={quoted}",
                f"/ws/soap/{quoted}?wsdl",
                f"/ws/v1/models/{quoted}/openapi.json",
            )
            description = await self._description(ctx, name, placements, digest)
            rows.append(
                ModelRow(
                    name, digest, len(set(digests)) > 1, description, tuple(placements), in_domains, links
                )
            )
        data = Models(
            tuple(rows),
            tuple(sorted(service.domains.servers())),
            tuple(d.name for d in domains),
            ctx.can(Profile.DEVELOPER),
        )
        return Page("models.html", "Models and deployments", data, live=True)

    def _targets(self, ctx: Ctx, model: str) -> list[str]:
        """The servers named by the form's ``target`` (``server:NAME`` or ``domain:NAME``), after the profile
        check: Developer for the model, or for that server / domain (the cluster checks it again per server)."""
        if not model:
            raise UsageError("field 'model': name the model")
        kind, _, name = ctx.field("target").partition(":")
        service = ctx.service
        if kind == "server" and name:
            service.access.require(ctx.who, Profile.DEVELOPER, model=model, server=name)
            return [name]
        if kind == "domain" and name:
            service.access.require(ctx.who, Profile.DEVELOPER, model=model, domain=name)
            servers = [m.server for m in service.domains.domain(name).members]
            if not servers:
                raise UsageError(f"domain {name!r} has no session servers to deploy to")
            return servers
        raise UsageError("field 'target': choose a session server or a domain")

    async def _each(
        self, ctx: Ctx, model: str, targets: list[str], what: str, action: str, text: str = ""
    ) -> str:
        done: list[DeploymentAnswer] = []
        failed: list[str] = []
        for server in targets:
            try:
                if action == "deploy":
                    done.append(await self._servers.deploy(ctx.who, server, model, text))
                else:
                    done.append(await self._servers.withdraw(ctx.who, server, model))
            except HostgateError as exc:
                if len(targets) == 1:
                    raise
                failed.append(f"{server}: {exc.code} {exc.message}")
        for answer in done:
            ctx.service.audit.record(
                actor=ctx.who.name, action=f"console.model.{action}", target=f"{answer.server}/{model}",
                source=ctx.source, detail={"digest": answer.digest},
            )  # fmt: skip
        if failed:
            ok = ", ".join(a.server for a in done) or "none"
            raise DeploymentIncomplete(
                f"model {model!r} {what} on {ok}; failed on {len(failed)} server(s): " + "; ".join(failed)
            )
        return f"model {model} {what} on " + ", ".join(a.server for a in done)

    async def activate(self, ctx: Ctx) -> str:
        model = ctx.field("model")
        targets = self._targets(ctx, model)
        text = ctx.form.get("text", "")
        if not text.strip():
            raise UsageError("field 'text': paste the model's text (its YAML file) to activate it")
        if len(text.encode()) > _MAX_TEXT:
            raise UsageError(f"field 'text': a model activated from the console is at most {_MAX_TEXT} bytes")
        return await self._each(ctx, model, targets, "activated", "deploy", text)

    async def deactivate(self, ctx: Ctx) -> str:
        model = ctx.field("model")
        targets = self._targets(ctx, model)
        return await self._each(ctx, model, targets, "deactivated", "withdraw")
