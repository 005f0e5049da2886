"""The ``hostgate`` command: the table of its commands, loaded only when used.

Start-up matters (issue #21): ``hostgate --help``, ``--version`` and ``cluster status`` must feel instant, and
importing every command module loads the connector, httpx, dnspython, cryptography, rich and the model loader
(about 0.5 s here). So this module imports nothing but the standard library: each command is named below as
``"module:attr"`` with the one-line summary ``hostgate --help`` shows, and the click group (``cli/_lazy.py``)
imports a command's module only when that command runs or its own help is asked for. ``--version`` is
answered before click is even imported. ``tests/unit/test_cli_lazy.py`` checks every summary against the
command's own help and that ``--help``/``--version`` load no command module.

A new command: one line in :data:`COMMANDS` (its module, attribute and summary).
"""

from __future__ import annotations

import sys

# Not `from typing import ...`: typing costs about a fifth of `hostgate --version` (issue #21's start-up
# budget). mypy treats a name TYPE_CHECKING as true wherever it comes from; `Any` is only an annotation here.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    import click

__all__ = ["COMMANDS", "main"]  # and `cli`, built on first use (module __getattr__)

# httpx's package __init__ imports its own command line (httpx._main: rich.progress, rich.syntax, pygments)
# whenever click and rich are installed, about a third of the connector's import time; hostgate's CLI never
# uses httpx's. A None entry makes that import fail, and httpx then defines a stub `main` (its own fallback
# for installs without the "cli" extra). Set only in the hostgate command's process, before httpx is loaded.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable" (importlib docs)

# name -> ("module:attr", summary). The summary is the first sentence of the command's help (what click
# would show in `hostgate --help`); a test keeps the two equal.
COMMANDS: dict[str, tuple[str, str]] = {
    "install": (
        "hostgate.cli.server_cmds:install",
        "Install a management server: the first of a new cluster, or (--join) a new member of an existing one.",
    ),
    "server": (
        "hostgate.cli.server_cmds:server",
        "Run the servers DATA_DIR configures (management API, and this host's etcd member) until stopped.",
    ),
    "cluster": ("hostgate.cli.cluster_cmds:cluster", "See and change the management cluster."),
    "user": ("hostgate.cli.user_cmds:user", "Local accounts of the management cluster."),
    "ldap": (
        "hostgate.cli.ldap_cmds:ldap",
        "LDAP / Active Directory directories, asked in order after the local accounts.",
    ),
    "grant": (
        "hostgate.cli.grant_cmds:grant",
        "Profiles (User, Developer, Administrator) granted to users and directory groups.",
    ),
    "whoami": (
        "hostgate.cli.grant_cmds:whoami",
        "Show the calling account and the profiles granted to it (its own and its groups').",
    ),
    "audit": (
        "hostgate.cli.audit_cmd:audit",
        "The audit trail: every admin change, deployment, failed login and lockout (Administrators only).",
    ),
    "sessions": (
        "hostgate.cli.sessions_cmds:sessions",
        "Live sessions on the session servers: list them, end one (Administrators only).",
    ),
    "domain": (
        "hostgate.cli.domain_cmds:domain",
        'Load-distribution domains: which session servers serve "connect via domain".',
    ),
    "servers": (
        "hostgate.cli.domain_cmds:servers",
        "Session servers: list them (the default command), switch their security, remove one.",
    ),
    "resolve": (
        "hostgate.cli.resolve_cmd:resolve_cmd",
        "Show what each name source says about ALIAS and the order clients try its addresses.",
    ),
    "demo": (
        "hostgate.cli.demo:demo",
        "Run the failover story of KB 7021563 on loopback: install, alias, kill -9 the leader, freeze a member, "
        "lose the majority; every figure measured, in a closing table.",
    ),
    "model": (
        "hostgate.cli.model_cmd:model",
        "Model files: the screens of a host application and how to drive them (docs/models.md).",
    ),
    "activatemodel": (
        "hostgate.cli.deploy_cmds:activatemodel",
        "Deploy the model FILE on a session server (--server) or on every server of a domain (--domain).",
    ),
    "deactivatemodel": (
        "hostgate.cli.deploy_cmds:deactivatemodel",
        "Withdraw model NAME from a session server (--server) or every server of a domain (--domain): new "
        "sessions no longer get it, open sessions keep it to their end.",
    ),
    "doctor": (
        "hostgate.cli.doctor_cmd:doctor",
        "Check the cluster alias ALIAS[:PORT] against the running cluster; exit 1 on an error finding.",
    ),
    "samples": (
        "hostgate.cli.samples_cmd:samples",
        "Print the paths of the sample models and the model JSON Schema shipped with hostgate, one per line.",
    ),
    "testhost": (
        "hostgate.cli.testhost_cmd:testhost",
        "Run the demo host the sample model of KIND expects (samples/models/demo3270.yaml, demo5250.yaml, "
        "demovt.yaml) until Ctrl-C.",
    ),
    "pool": (
        "hostgate.cli.pool_cmds:pool",
        "Session pools defined in the cluster: on a domain (every server of it runs the pool) or one server.",
    ),
    "webservices": (
        "hostgate.cli.ws_cmds:webservices",
        "Serve the web services of the cluster that DATA_DIR/webservices/plugin-cfg.xml names (serverName).",
    ),
    "scaffold": (
        "hostgate.cli.scaffold_cmds:scaffold_cmd",
        "Generate a small runnable project for MODEL: a typed client, a web app, a README and a live test.",
    ),
    "systemd-unit": (
        "hostgate.cli.systemd_cmd:systemd_unit",
        "Write a systemd unit that runs `hostgate server --data-dir DATA_DIR` (restart on failure, sandboxed).",
    ),
    "login": ("hostgate.cli.login_cmds:login", "Log in to the cluster once and keep a short-lived token."),
    "logout": (
        "hostgate.cli.login_cmds:logout",
        "End the stored login of the cluster the CA names (or of every cluster with --all).",
    ),
}


def __getattr__(name: str) -> Any:
    # `from hostgate.cli.main import cli` (tests, scripts/gen_cli_docs.py) builds the click group on first use,
    # so the console script's own import of this module stays free of click.
    if name == "cli":
        return _group()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _group() -> click.Group:
    from hostgate.cli._lazy import cli

    return cli


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--version"]:
        from hostgate.cli.version_info import quick_version

        # Answered without click when the arguments are ones --version takes; anything else goes to click,
        # which reports it as a usage error.
        if quick_version(args[1:]):
            sys.exit(0)
    _group()(prog_name="hostgate")  # also under `python -m hostgate.cli.main`


if __name__ == "__main__":
    main()
