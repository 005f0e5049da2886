"""``hostgate activatemodel`` / ``deactivatemodel``: deploy a model on named session servers (VHI's commands).

KB 7021563: "when deploying models (using activatemodel and deactivatemodel commands ...), use the specific
individual session server system names (not the cluster common alias name)". So ``--server`` names ONE session
server by its own address (or a name the hosts file / DNS resolves) and port; the model goes there with the
caller's credentials, and that server establishes the management session itself (session/deployer.py). With
``--domain D`` the cluster (``--management ALIAS``) is asked for D's servers and each gets the model, a few at a
time, each reported on its own line.

Failures print VHI's words with hostgate's code: ``[HG-3852] Deployment of model failed: Cannot establish
management session: <cause>`` and ``... Token binding is invalid: <what it was bound to, who checked it>``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx

from hostgate.cli.common import make_client, read_secret_file, stored_login, user_given
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.connector.cluster import ClusterClient, cluster_id_of_ca
from hostgate.errors import (
    CertificateError,
    DeploymentIncomplete,
    HostgateError,
    ModelError,
    SessionServerUnreachable,
    UsageError,
    WrongCluster,
    error_from_answer,
)
from hostgate.messages import API, SESSION, DeploymentAnswer, ModelUpload, decode_answer, encode
from hostgate.models import load_model
from hostgate.naming.resolver import AliasResolver
from hostgate.naming.target import is_ip_literal, parse_target, url_host

__all__ = ["SESSION_PORT", "activatemodel", "deactivatemodel", "management_options"]

F = TypeVar("F", bound=Callable[..., Any])
SESSION_PORT = 9450  # a session server's default port ([session] port)
# The session server validates, asks the cluster (staggered members, 10 s deadline per call), activates and
# records: generous, since the machine may be busy; a server that accepts and never answers is cut off here.
_ANSWER_TIMEOUT = 60.0
MAX_MODEL_FILE = 1_048_576


def management_options(func: F) -> F:
    """How to reach the cluster when a command needs it (``--domain``, ``model list``); ``--server`` is taken
    by the session server these commands name."""
    options = [
        click.option(
            "--management",
            envvar="HOSTGATE_SERVER",
            metavar="ALIAS[:PORT]",
            help="The management cluster's alias (for --domain and the cluster's deployment records). "
            "Env: HOSTGATE_SERVER.",
        ),
        click.option(
            "--hosts-file",
            envvar="HOSTGATE_HOSTS_FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            help="hostgate's own hosts file, read before the system's. Env: HOSTGATE_HOSTS_FILE.",
        ),
        click.option(
            "--dns-server",
            "dns_servers",
            envvar="HOSTGATE_DNS_SERVER",
            multiple=True,
            metavar="IP[:PORT]",
            help="DNS server to ask for names (repeatable). Env: HOSTGATE_DNS_SERVER.",
        ),
        click.option(
            "--ca-file",
            envvar="HOSTGATE_CA_FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The cluster CA (DATA_DIR/ca.pem of any member). Env: HOSTGATE_CA_FILE.",
        ),
        click.option(
            "--user", envvar="HOSTGATE_USER", default="admin", show_default=True, help="Env: HOSTGATE_USER."
        ),
        click.option(
            "--password-file",
            envvar="HOSTGATE_PASSWORD_FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            help="File holding the password (first line). Env: HOSTGATE_PASSWORD_FILE.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@dataclass(frozen=True, slots=True)
class Reach:
    """Everything a command needs to reach session servers and, for ``--domain``, the cluster."""

    ca_file: Path | None
    user: str
    password_file: Path | None
    management: str | None
    hosts_file: Path | None
    dns_servers: tuple[str, ...]

    @classmethod
    def of(cls, options: dict[str, Any]) -> Reach:
        return cls(
            options.pop("ca_file"),
            options.pop("user"),
            options.pop("password_file"),
            options.pop("management"),
            options.pop("hosts_file"),
            tuple(options.pop("dns_servers")),
        )

    def cluster(self) -> ClusterClient:
        if self.ca_file is None:
            raise UsageError("this needs the cluster CA: give --ca-file (or HOSTGATE_CA_FILE)")
        if not self.management:
            raise UsageError(
                "this needs the management cluster: give --management ALIAS[:PORT] (or HOSTGATE_SERVER)"
            )
        return make_client(
            self.management, self.hosts_file, self.dns_servers, self.ca_file, self.user, self.password_file
        )

    def authorization(self) -> str:
        """The ``Authorization`` value every CLI command sends, which the session server forwards as it is."""
        if self.password_file is None:
            # The login `hostgate login` stored for the cluster the CA names (cli/login_store.py), refused here
            # when there is none or it expired; the session server forwards the Bearer value as it is.
            if self.ca_file is None:
                raise UsageError("this needs the cluster CA: give --ca-file (or HOSTGATE_CA_FILE)")
            try:
                ca_pem = self.ca_file.read_bytes()
            except OSError as exc:
                raise UsageError(f"cannot read the cluster CA {self.ca_file}: {exc.strerror}") from exc
            cluster_id = cluster_id_of_ca(ca_pem)
            return f"Bearer {stored_login(cluster_id, self.user if user_given() else None).token}"
        password = read_secret_file(self.password_file, "password")
        # The header every other command sends (ClusterClient._auth_headers): HTTP Basic of --user and the
        # password.
        return "Basic " + base64.b64encode(f"{self.user}:{password}".encode()).decode()


@dataclass(frozen=True, slots=True)
class Outcome:
    server: str  # as named (--server), or the domain member's name
    target: str  # where it was sent
    answer: DeploymentAnswer | None = None
    error: HostgateError | None = None

    @property
    def label(self) -> str:
        name = self.answer.server if self.answer is not None else self.server
        return name if name == self.target else f"{name} ({self.target})"

    def line(self) -> str:
        if self.error is not None:
            return f"{self.label}: {self.error}"
        a = self.answer
        assert a is not None
        if a.action == "withdraw":
            what = (
                f"withdrew model {a.model} ({a.digest})" if a.replaced else f"model {a.model} was not served"
            )
            return f"{self.label}: {what}; new sessions no longer get it (recorded by {a.recorded_by})"
        verb = "replaced the earlier version" if a.replaced else "new model"
        return (
            f"{self.label}: deployed model {a.model} ({a.digest}, {verb}) as {a.user}, recorded by "
            f"{a.recorded_by}"
        )

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {
                "server": self.server,
                "target": self.target,
                "ok": False,
                **self.error.to_payload(public=False),
            }
        assert self.answer is not None
        return {"target": self.target, "ok": True, **json.loads(encode(self.answer))}


async def _address(target: str, reach: Reach) -> tuple[str, int, str]:
    """(address to dial, port, name the certificate must carry) of a session server given as host[:port]."""
    host, port = parse_target(target, SESSION_PORT)
    if is_ip_literal(host):
        return host, port, host
    resolver = AliasResolver(hosts_file=reach.hosts_file, dns_servers=reach.dns_servers)
    resolution = await resolver.resolve(host)
    return resolution.addresses[0], port, host


async def _send(
    target: str, method: str, path: str, body: object, reach: Reach, ctx: ssl.SSLContext, cluster_id: str
) -> DeploymentAnswer:
    address, port, name = await _address(target, reach)
    url = f"https://{url_host(address)}:{port}{path}"
    headers = {"Authorization": reach.authorization()}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        async with httpx.AsyncClient(verify=ctx, timeout=_ANSWER_TIMEOUT) as client:
            resp = await client.request(
                method,
                url,
                content=None if body is None else encode(body),
                headers=headers,
                # Dial the address, verify the certificate against the name given (its SAN).
                extensions={"sni_hostname": name},
            )
    except httpx.HTTPError as exc:
        raise SessionServerUnreachable(
            f"session server {target}: {type(exc).__name__}: {exc or 'no answer'}"
        ) from None
    answered_for = resp.headers.get("x-hostgate-cluster-id")
    if answered_for != cluster_id:
        raise WrongCluster(f"{target} answered for cluster {answered_for or '(none)'}, not {cluster_id}")
    if resp.status_code >= 400:
        raise error_from_answer(resp.content, resp.status_code)
    answer: DeploymentAnswer = decode_answer(resp.content, DeploymentAnswer, f"session server {target}")
    return answer


async def _each(
    targets: Sequence[tuple[str, str]],
    method: str,
    path_of: Callable[[str], str],
    body: object,
    reach: Reach,
    parallel: int,
) -> list[Outcome]:
    if reach.ca_file is None:
        raise UsageError(
            "give --ca-file (or HOSTGATE_CA_FILE): session servers are verified with the cluster CA"
        )
    try:
        ca_pem = reach.ca_file.read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read the cluster CA {reach.ca_file}: {exc.strerror}") from exc
    cluster_id = cluster_id_of_ca(ca_pem)
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    bound = asyncio.Semaphore(parallel)

    async def one(label: str, target: str) -> Outcome:
        async with bound:
            try:
                answer = await _send(target, method, path_of(target), body, reach, ctx, cluster_id)
            except HostgateError as exc:  # MalformedAnswer (a server of another version) included
                return Outcome(label, target, error=exc)
            return Outcome(label, target, answer)

    return list(await asyncio.gather(*(one(label, target) for label, target in targets)))


async def _domain_targets(reach: Reach, domain: str) -> list[tuple[str, str]]:
    """The servers of ``domain`` as (name, advertised address:port), from the cluster."""
    client = reach.cluster()
    members = (await client.call(API.domain, None, name=domain)).payload.members
    views = {v.name: v for v in (await client.call(API.servers, None)).payload}
    found = [(m.server, views[m.server].advertised) for m in members if m.server in views]
    if not found:
        raise UsageError(
            f"domain {domain!r} has no registered session server", hint="`hostgate domain show`."
        )
    return found


def _targets(server: str | None, domain: str | None, reach: Reach) -> list[tuple[str, str]]:
    if (server is None) == (domain is None):
        raise UsageError("name exactly one of --server SESSIONSERVER or --domain DOMAIN")
    if server is not None:
        return [(server, server)]
    assert domain is not None
    return asyncio.run(_domain_targets(reach, domain))


def _report(outcomes: list[Outcome], as_json: bool, what: str) -> None:
    failed = [o for o in outcomes if o.error is not None]
    if as_json:
        emit_json({"ok": not failed, "servers": [o.to_json() for o in outcomes]})
        if failed:
            raise SystemExit(1)
        return
    for o in outcomes:
        if o.error is None:
            console.print(o.line(), markup=False, soft_wrap=True)
        else:
            click.echo(o.line(), err=True)
            if o.error.hint and len(outcomes) == 1:
                click.echo(f"hint: {o.error.hint}", err=True)
    if failed and len(outcomes) > 1:
        err = DeploymentIncomplete(
            f"{what} failed on {len(failed)} of {len(outcomes)} servers: "
            + ", ".join(o.server for o in failed)
        )
        click.echo(str(err), err=True)
        click.echo(f"hint: {err.hint}", err=True)
    if failed:
        raise SystemExit(1)


_SERVER = click.option(
    "--server",
    metavar="SESSIONSERVER[:PORT]",
    help=f"ONE session server by its own address or name (never the cluster alias), port {SESSION_PORT} "
    "unless given.",
)
_DOMAIN = click.option(
    "--domain", metavar="DOMAIN", help="Every session server of DOMAIN (needs --management)."
)
_PARALLEL = click.option(
    "--parallel", type=click.IntRange(1, 64), default=4, show_default=True, help="Servers at once (--domain)."
)


@click.command("activatemodel")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_SERVER
@_DOMAIN
@_PARALLEL
@management_options
@click.option("--json", "as_json", is_flag=True, help="Print one result per server as JSON.")
@handle_errors
def activatemodel(
    file: Path, server: str | None, domain: str | None, parallel: int, as_json: bool, **kw: Any
) -> None:
    """Deploy the model FILE on a session server (--server) or on every server of a domain (--domain).

    The server validates the whole model (an invalid one is refused with every error; nothing changes), asks
    its management cluster, through its own management alias, whether you hold the Developer profile for it,
    activates the model without a restart (open sessions keep theirs, new sessions get the new one) and
    records the deployment in the cluster; if the record fails the activation is rolled back. Your --user and
    --password-file go to the session server, which forwards them to the cluster. Exit 1 if any server failed.
    The offline path, with no server and no cluster: `hostgate model deploy FILE --data-dir DIR`."""
    reach = Reach.of(kw)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read model file {file}: {exc.strerror}") from exc
    if len(data) > MAX_MODEL_FILE:
        raise UsageError(f"model file {file} is larger than {MAX_MODEL_FILE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"model file {file} is not UTF-8 text (byte {exc.start})") from None
    name = _model_name(text, file)
    targets = _targets(server, domain, reach)
    outcomes = asyncio.run(
        _each(
            targets, "PUT", lambda _t: SESSION.deploy.url_path(name=name), ModelUpload(text), reach, parallel
        )
    )
    _report(outcomes, as_json, f"deploying model {name}")


def _model_name(text: str, file: Path) -> str:
    """The model's ``name``, from the whole model checked here first (the same validator as the server's: a
    bad model is refused with every error before anything is sent; the server checks it again)."""
    try:
        return load_model(text).name
    except ModelError as exc:
        listing = "\n".join(f"  {i}" for i in exc.issues) or f"  {exc.message}"
        raise type(exc)(f"{file}: model refused, nothing deployed:\n{listing}", issues=exc.issues) from None


@click.command("deactivatemodel")
@click.argument("name")
@_SERVER
@_DOMAIN
@_PARALLEL
@management_options
@click.option("--json", "as_json", is_flag=True, help="Print one result per server as JSON.")
@handle_errors
def deactivatemodel(
    name: str, server: str | None, domain: str | None, parallel: int, as_json: bool, **kw: Any
) -> None:
    """Withdraw model NAME from a session server (--server) or every server of a domain (--domain): new
    sessions no longer get it, open sessions keep it to their end. Checked and recorded through the server's
    management session like activatemodel (Developer profile)."""
    reach = Reach.of(kw)
    targets = _targets(server, domain, reach)
    outcomes = asyncio.run(
        _each(targets, "DELETE", lambda _t: SESSION.withdraw.url_path(name=name), None, reach, parallel)
    )
    _report(outcomes, as_json, f"withdrawing model {name}")
