"""Holds the import directions of docs/architecture.md: who may import whom inside src/hostgate.

Every import form counts: ``import hostgate.x``, ``from hostgate.x import y``, ``from hostgate import x``,
relative imports (``from . import x``, ``from ..x import y``), imports under ``if TYPE_CHECKING:`` and imports
inside functions. An import inside a function ("lazy") hides a direction from anyone reading the module's
head, so each one must be listed by name in :data:`LAZY` (file, imported module, why); a listed one that is
gone fails too, so the list stays true. A test in a subprocess checks what ``import hostgate.connector``
really loads, and the checker itself is run on a planted tree with one violation of each kind.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hostgate"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

# Top-level modules at the bottom of the house, each with the bottom modules it may import itself.
BOTTOM_ROWS: dict[str, frozenset[str]] = {
    "__init__": frozenset(),
    "_public": frozenset(),
    "_clock": frozenset(),
    "_names": frozenset(),
    # Where the package data lives (the samples, the model schema, the demo hosts): importlib.resources only.
    "_package_data": frozenset(),
    "errors": frozenset({"_public"}),
    # ADDRESS:PORT of a terminal host: the capture CLI, the console's Capture page and [capture] hosts.
    "_hostport": frozenset({"errors"}),
    "_http": frozenset({"errors"}),
    "_bodies": frozenset({"errors", "messages"}),
    "pki": frozenset({"errors", "_names"}),
    "tokens": frozenset({"errors", "messages"}),
    # The typed wire messages (msgspec only): imported by both faces, the connector and the CLI.
    "messages": frozenset({"errors"}),
    # Pool schedules (croniter, zoneinfo): one evaluation for the management API, the session servers, the CLI.
    "pool_schedule": frozenset(),
    # Each server's Prometheus registry and its hooks (prometheus-client only): the faces, the store and the
    # session registry report through it.
    "metrics": frozenset({"__init__"}),
}
BOTTOM = frozenset(BOTTOM_ROWS)
SERVER_SIDE = frozenset(
    {"management", "api", "console", "store", "config", "naming", "session", "models", "hosts", "webservices"}
)

# The table of docs/architecture.md ("Packages and their directions"): layer -> the other layers it may import.
MAY_IMPORT: dict[str, frozenset[str]] = {
    **BOTTOM_ROWS,
    # config builds an AliasResolver from [naming] (config/naming.py); naming stays free of config so the
    # connector never loads it.
    "config": BOTTOM | {"naming"},
    "naming": BOTTOM,
    "store": BOTTOM | {"config"},
    "models": BOTTOM,
    "hosts": BOTTOM | {"models"},
    "management": BOTTOM | {"store", "naming", "config"},
    "api": BOTTOM | {"management"},
    # The Capture page (issue #22) drives the capture engine over a host session: capture, hosts, models; its
    # allowlist is [capture] of the settings.
    "console": BOTTOM | {"management", "connector", "capture", "hosts", "models", "config"},
    # The composition root of `hostgate server`: wires every server-side part into one process.
    # runtime/enrol.py is the one enrolment flow (join / register): a client of the cluster, so the connector.
    "runtime": BOTTOM | SERVER_SIDE | {"connector"},
    "session": BOTTOM | {"hosts", "models", "connector", "config"},
    "connector": BOTTOM | {"naming"},
    # The web-service layer is a client of the cluster (via domain through the alias), like the connector.
    "webservices": BOTTOM | {"connector", "models", "config", "naming"},
    # `hostgate model capture` (issue #22): the capture engine drives a host session through a driver and
    # writes a model; the CLI's TUI is one face of it, the console another.
    "capture": BOTTOM | {"hosts", "models"},
    # `hostgate model check` validates a file with hostgate.models alone (a pure validator, no server code).
    "cli": BOTTOM | {"connector", "config", "naming", "models", "webservices", "capture"},
    # The demo's host applications: package data run as separate processes, importing nothing of hostgate.
    "testhosts": frozenset(),
}

# Every import inside a function, by (file under src/hostgate, imported module), with the reason it is lazy.
LAZY: dict[tuple[str, str], str] = {
    (
        "runtime/tls_scope.py",
        "hostgate.runtime.lean_http",
    ): "the session face's own protocol builds on tls_scope's hardening mixin: imported where it is chosen",
    (
        "store/__init__.py",
        "hostgate.store.etcd",
    ): "grpc and aetcd are loaded only by servers whose store is etcd",
    (
        "store/__init__.py",
        "hostgate.store.sqlite",
    ): "a server whose store is etcd never loads the SQLite backend",
    ("hosts/__init__.py", "hostgate.hosts.tn3270"): "drivers load on first use: only 3270 sessions load tnz",
    (
        "hosts/__init__.py",
        "hostgate.hosts.tn5250",
    ): "drivers load on first use: only 5250 sessions load ibm5250",
    (
        "hosts/__init__.py",
        "hostgate.hosts.vt",
    ): "drivers load on first use: only VT sessions load telnetlib3/pyte",
    (
        "runtime/server.py",
        "hostgate.session.role",
    ): "the session role (drivers, models, YAML) loads only when enabled",
    (
        "runtime/server.py",
        "hostgate.store.etcd_member",
    ): "only a server that runs its own etcd member supervises one",
    (
        "runtime/server.py",
        "hostgate.runtime.membership",
    ): "imports the etcd store (grpc, aetcd): etcd members only",
    # The CLI reaches server code only inside `hostgate install` and `hostgate server` (ARCHITECTURE.md).
    (
        "cli/server_cmds.py",
        "hostgate.management.install",
    ): "server code, only inside `hostgate install` (join)",
    ("cli/server_cmds.py", "hostgate.runtime.server"): "server code, only inside `hostgate server`",
    # CLI start-up (issue #21): `hostgate --version`/`--help` load no command module, and no click for
    # --version; each command's module is imported by name (cli/main.py COMMANDS) when it runs.
    (
        "cli/main.py",
        "hostgate.cli._lazy",
    ): "the click group is built on first use: --version runs without click",
    (
        "cli/main.py",
        "hostgate.cli.version_info",
    ): "the click-free --version answer, loaded only when --version is asked",
    ("cli/_lazy.py", "hostgate.cli.version_info"): "loaded only when --version is given to the click group",
    # `hostgate model check/deploy/list` import cli/capture_cmd.py (a subcommand of `model`): the capture
    # engine, its curses UI and replay load only when `model capture` runs (issue #22).
    (
        "cli/capture_cmd.py",
        "hostgate.capture.engine",
    ): "the capture engine loads only when `model capture` runs",
    (
        "cli/capture_cmd.py",
        "hostgate.capture.tui",
    ): "curses and the capture UI load only when a capture starts",
    ("cli/capture_cmd.py", "hostgate.capture.replay"): "replay loads only for `model capture --replay`",
    (
        "cli/_lazy.py",
        "hostgate.errors",
    ): "the error tree is loaded for a usage error only, not for every --help",
    (
        "cli/version_info.py",
        "hostgate.config.settings",
    ): "only --version --data-dir reads a data dir; settings load the naming sources (dnspython)",
    ("cli/version_info.py", "hostgate.config.datadir"): "only --version --data-dir reads a data dir's lock",
    ("cli/version_info.py", "hostgate.cli.output"): "rich is loaded only to print an error of --version",
    (
        "cli/version_info.py",
        "hostgate.errors",
    ): "plain --version (no data dir) raises no error: start-up budget",
    (
        "cli/ws_cmds.py",
        "hostgate.runtime.ws_standalone",
    ): "server code (uvicorn, the web services), only inside `hostgate webservices`",
    (
        "cli/backup_cmds.py",
        "hostgate.management.install",
    ): "server code, only inside `hostgate cluster restore` (the default member name)",
    (
        "cli/backup_cmds.py",
        "hostgate.management.restore",
    ): "server code, only inside `hostgate cluster restore` (builds a data directory)",
    (
        "cli/server_cmds.py",
        "hostgate.runtime.enrol",
    ): "server code, only inside `hostgate install` (one enrol flow)",
    (
        "naming/dns.py",
        "hostgate.naming._dnspython",
    ): "dnspython (~0.1 s of imports) loads at the first DNS lookup, not for a hosts-file alias (issue #21)",
}


@dataclass(frozen=True, slots=True)
class Import:
    file: str  # relative to the package root, e.g. "session/navigator.py"
    line: int
    module: str  # the hostgate module imported, resolved: "hostgate.session.procedures"
    lazy: bool  # inside a function body


def _module_exists(root: Path, module: str) -> bool:
    parts = module.split(".")[1:]
    if not parts:
        return True
    path = root.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _resolve_from(root: Path, path: Path, node: ast.ImportFrom) -> list[str]:
    if node.level:
        package = [root.name, *path.relative_to(root).parent.parts]
        if node.level - 1 > len(package) - 1:
            return [".".join(["<beyond>", *(node.module or "").split(".")])]
        base = package[: len(package) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    if target.split(".")[0] != root.name:
        return []
    found: list[str] = []
    for alias in node.names:
        candidate = f"{target}.{alias.name}"
        found.append(candidate if alias.name != "*" and _module_exists(root, candidate) else target)
    return found


def imports_of(root: Path, path: Path) -> list[Import]:
    """Every import of a module of the package ``root`` in ``path``, resolved to a module name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(root).as_posix()
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == root.name:
                        found.append(Import(rel, child.lineno, alias.name, lazy))
            elif isinstance(child, ast.ImportFrom):
                for module in _resolve_from(root, path, child):
                    found.append(Import(rel, child.lineno, module, lazy))
            visit(child, inner)

    visit(tree, False)
    return list(dict.fromkeys(found))  # `from x import a, b` of one module counts once


def layer_of_file(root: Path, path: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def layer_of_module(root: Path, module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(
    root: Path, may_import: Mapping[str, frozenset[str]], lazy: Mapping[tuple[str, str], str]
) -> list[str]:
    """Everything in the tree at ``root`` that breaks the table or the lazy list (empty: all is well)."""
    found: list[str] = []
    seen_lazy: set[tuple[str, str]] = set()
    for path in sorted(root.rglob("*.py")):
        layer = layer_of_file(root, path)
        rel = path.relative_to(root).as_posix()
        if layer not in may_import:
            found.append(f"{rel}: layer {layer!r} has no row in the table")
            continue
        for imp in imports_of(root, path):
            target = layer_of_module(root, imp.module)
            where = f"{rel}:{imp.line}"
            if imp.module.startswith("<beyond>"):
                found.append(f"{where}: relative import beyond the package")
                continue
            if imp.lazy:
                seen_lazy.add((rel, imp.module))
                if (rel, imp.module) not in lazy:
                    found.append(f"{where}: lazy import of {imp.module} is not listed in LAZY")
                continue
            if target != layer and target not in may_import[layer]:
                found.append(f"{where}: {layer} imports {imp.module} ({layer} may not import {target})")
    for key in sorted(set(lazy) - seen_lazy):
        found.append(f"{key[0]}: LAZY lists {key[1]}, which it no longer imports inside a function")
    return found


def test_imports_follow_the_architecture() -> None:
    assert violations(SRC, MAY_IMPORT, LAZY) == []


def test_every_lazy_import_says_why() -> None:
    assert all(len(reason) > 20 for reason in LAZY.values())


# --- the connector loads no server code --------------------------------------------------------------------

SERVER_PACKAGES = (
    "management",
    "session",
    "store",
    "api",
    "runtime",
    "hosts",
    "models",
    "console",
    "cli",
    "webservices",
    "capture",
)
SERVER_LIBRARIES = (
    "starlette",
    "uvicorn",
    "aetcd",
    "grpc",
    "tnz",
    "ibm5250",
    "pyte",
    "argon2",
    "yaml",
    "ldap3",
)


def _loaded_by(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout))


def test_importing_the_connector_loads_no_server_code() -> None:
    loaded = _loaded_by("import hostgate.connector")
    assert "hostgate.connector" in loaded
    server = sorted(m for m in loaded if m.split(".")[:2] in (["hostgate", p] for p in SERVER_PACKAGES))
    libraries = sorted(m for m in loaded if m.split(".")[0] in SERVER_LIBRARIES)
    assert server == [] and libraries == []


def test_the_subprocess_check_sees_a_server_package() -> None:
    # The same check fails for a module that does load server code (so it is not vacuous).
    loaded = _loaded_by("import hostgate.session.server")
    assert "hostgate.session.server" in loaded and "starlette" in loaded


# --- the table is the one in docs/architecture.md ----------------------------------------------------------


def _doc_rows() -> dict[str, str]:
    text = DOCS.read_text()
    section = text.split("## Packages and their directions", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            rows[name.removesuffix(".py").removesuffix("/")] = cells[2]
    return rows


def _doc_allowed(cell: str) -> frozenset[str]:
    cell = cell.split(";", 1)[0]  # "...; server code only lazily inside install/server": the LAZY list
    if cell.strip() == "nothing":
        return frozenset()
    names: set[str] = set()
    if cell.strip().startswith("everything server-side"):
        names |= BOTTOM | SERVER_SIDE
        cell = cell.strip().removeprefix("everything server-side")
    for word in re.findall(r"[`]?([_a-z]+)[`]?", cell):
        if word == "bottom":
            names |= BOTTOM
        elif word in MAY_IMPORT:
            names.add(word)
    return frozenset(names)


def test_the_table_is_the_one_in_docs_architecture() -> None:
    rows = _doc_rows()
    layers = {layer_of_file(SRC, p) for p in SRC.rglob("*.py")}
    assert sorted(layers - set(rows)) == [], "layers without a row in docs/architecture.md"
    assert sorted(set(MAY_IMPORT) - set(rows) - {"__init__"}) == [], "table rows the docs do not have"
    differ = {
        name: (sorted(_doc_allowed(cell) - {name}), sorted(MAY_IMPORT[name] - {name}))
        for name, cell in rows.items()
        if name in MAY_IMPORT and _doc_allowed(cell) - {name} != MAY_IMPORT[name] - {name}
    }
    assert differ == {}, "(docs, test) may-import sets differ"


# --- the checker can fail ---------------------------------------------------------------------------------


def _plant(root: Path, files: Mapping[str, str]) -> Path:
    pkg = root / "hostgate"
    for name in ("", "connector", "management", "naming", "session", "store", "cli"):
        (pkg / name).mkdir(parents=True, exist_ok=True)
        (pkg / name / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "management" / "service.py").write_text("")
    (pkg / "naming" / "dialer.py").write_text("")
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(textwrap.dedent(text))
    return pkg


PLANTED: dict[str, tuple[str, str]] = {
    # kind: (file, source) each of which imports management from the connector (or hides an import)
    "absolute": ("connector/a.py", "import hostgate.management.service\n"),
    "from-module": ("connector/b.py", "from hostgate.management import service\n"),
    "from-hostgate": ("connector/c.py", "from hostgate import management\n"),
    "relative-up": ("connector/d.py", "from ..management import service\n"),
    "relative-up-package": ("connector/e.py", "from .. import management\n"),
    "type-checking": (
        "connector/f.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hostgate.management.service import X\n",
    ),
    "lazy-unlisted": ("session/g.py", "def f():\n    from hostgate.session import h\n"),
    "no-row": ("newroom/x.py", "import os\n"),
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_the_checker_reports_a_planted_violation(tmp_path: Path, kind: str) -> None:
    name, source = PLANTED[kind]
    root = _plant(tmp_path, {name: source})
    found = violations(root, MAY_IMPORT, {})
    assert len(found) == 1 and found[0].startswith(name), found


def test_the_checker_passes_allowed_forms_and_reports_a_stale_lazy_entry(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "connector/ok.py": "from . import x\nfrom .. import errors\nfrom ..naming import dialer\n",
            "connector/x.py": "def f():\n    import hostgate.naming.dialer\n",
        },
    )
    listed = {("connector/x.py", "hostgate.naming.dialer"): "a reason long enough to read"}
    assert violations(root, MAY_IMPORT, listed) == []
    stale = {**listed, ("connector/ok.py", "hostgate.naming"): "a reason long enough to read"}
    assert violations(root, MAY_IMPORT, stale) == [
        "connector/ok.py: LAZY lists hostgate.naming, which it no longer imports inside a function"
    ]


def test_relative_imports_resolve_to_modules(tmp_path: Path) -> None:
    root = _plant(
        tmp_path, {"session/a.py": "from . import b\nfrom .b import c\nfrom ..management import service\n"}
    )
    (root / "session" / "b.py").write_text("")
    mods = [i.module for i in imports_of(root, root / "session" / "a.py")]
    assert mods == ["hostgate.session.b", "hostgate.session.b", "hostgate.management.service"]
