"""Holds the import directions of ARCHITECTURE.md: who may import whom inside src/hostgate."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hostgate"
BOTTOM = {"errors", "_types", "_clock", "_http", "_bodies", "_public", "pki", "__init__"}
ALLOWED: dict[str, set[str]] = {
    "bottom": BOTTOM,
    # config builds an AliasResolver from [naming] (config/naming.py); naming stays free of config so the
    # connector never loads it.
    "config": BOTTOM | {"config", "naming"},
    "naming": BOTTOM | {"naming"},
    "store": BOTTOM | {"store", "config"},
    "models": BOTTOM | {"models"},
    "hosts": BOTTOM | {"hosts", "models"},
    "management": BOTTOM | {"management", "store", "naming", "models", "config"},
    "session": BOTTOM | {"session", "hosts", "models", "connector", "config"},
    "connector": BOTTOM | {"connector", "naming"},
    "api": BOTTOM | {"api", "management"},
    "console": BOTTOM | {"console", "management"},
    # The CLI reaches server code only inside `hostgate install` / `hostgate server` (lazy imports).
    # The composition root: wires management, its HTTP faces and the store member into one process.
    "runtime": BOTTOM | {"runtime", "management", "api", "console", "store", "config", "naming", "session"},
    # `hostgate model check` validates a file with hostgate.models alone (a pure validator, no server code).
    "cli": BOTTOM | {"cli", "connector", "config", "naming", "models"},
}
CLI_SERVER_MODULES = {"server_cmds.py", "demo.py"}


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else "bottom"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(hostgate subpackage, imported at module level) for each hostgate import in the file."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, bool]] = []
    top_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "hostgate" and len(parts) > 1:
                found.append((parts[1], id(node) in top_level))
    return found


FILES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_architecture(path: Path) -> None:
    package = _package_of(path)
    allowed = ALLOWED[package]
    for target, top in _imports(path):
        if package == "cli" and path.name in CLI_SERVER_MODULES and not top:
            continue
        assert target in allowed, f"{path.relative_to(SRC)} imports hostgate.{target} ({package} may not)"


def test_the_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from hostgate.management import service\n")
    assert ("management", True) in _imports(bad)
    assert "management" not in ALLOWED["connector"]
