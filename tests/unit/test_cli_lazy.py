"""CLI start-up (issue #21): `hostgate --version` and `--help` load no command module, and the command table of
cli/main.py is true to the commands it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from hostgate.cli.main import COMMANDS, cli

# Modules a bare `--version` / `--help` must not load: the command modules and what they pull in.
HEAVY = (
    "hostgate.connector",
    "hostgate.cli.common",
    "hostgate.cli.output",
    "httpx",
    "rich",
    "dns",
    "msgspec",
)


def _loaded_by_main(*args: str) -> tuple[int, set[str]]:
    code = (
        "import json, sys\n"
        f"sys.argv = ['hostgate', *{list(args)!r}]\n"
        "from hostgate.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    rc = exc.code or 0\n"
        # Loaded modules only: cli/main.py blocks httpx._main with a None entry (a module never loaded).
        "sys.stderr.write(json.dumps([rc, sorted(k for k, v in sys.modules.items() if v is not None)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    rc, modules = json.loads(out.stderr.strip().splitlines()[-1])
    return int(rc), set(modules)


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or any(m.startswith(h) for h in HEAVY))


def test_version_loads_neither_click_nor_any_command() -> None:
    rc, modules = _loaded_by_main("--version")
    assert rc == 0
    assert "click" not in modules
    assert _heavy(modules) == []


def test_help_loads_no_command_module() -> None:
    rc, modules = _loaded_by_main("--help")
    assert rc == 0
    assert "click" in modules
    loaded = sorted(m for m in modules if m.startswith("hostgate.cli.") and m.endswith(("_cmd", "_cmds")))
    assert loaded == [] and _heavy(modules) == []


def test_a_command_loads_its_own_module_only() -> None:
    rc, modules = _loaded_by_main("user", "--help")
    assert rc == 0
    assert "hostgate.cli.user_cmds" in modules
    assert "hostgate.cli.deploy_cmds" not in modules and "hostgate.models" not in modules


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_names_the_command_and_its_summary(name: str) -> None:
    ctx = click.Context(cli, info_name="hostgate")
    command = cli.get_command(ctx, name)
    assert isinstance(command, click.Command) and command.name == name
    stub = click.Command(name, help=COMMANDS[name][1])
    for limit in (30, 45, 60, 80, 100, 200):
        assert stub.get_short_help_str(limit) == command.get_short_help_str(limit), limit


def test_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = [line.split()[0] for line in out.split("Commands:", 1)[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)


def test_version_names_python_and_the_etcd_found(tmp_path: Path) -> None:
    from hostgate.cli.version_info import find_etcd, version_lines

    missing = find_etcd(str(tmp_path / "no-etcd"))
    assert missing.version is None and "not found" in missing.problem
    lines = version_lines(None, etcd=missing)
    assert lines[0].startswith("hostgate ") and lines[1].startswith(f"Python {sys.version_info.major}.")
    assert lines[2].startswith("etcd: none") and "lone server (SQLite) needs none" in lines[2]
    fake = tmp_path / "etcd"
    fake.write_text("#!/bin/sh\necho 'etcd Version: 3.4.99'\necho 'Git SHA: x'\n")
    fake.chmod(0o755)
    found = find_etcd(str(fake))
    assert (found.version, found.path) == ("3.4.99", str(fake))


def test_quick_version_takes_only_its_own_arguments() -> None:
    from hostgate.cli.version_info import quick_version

    # Anything but [--data-dir D] goes to click (which reports it); nothing is printed for those.
    assert quick_version(["--json"]) is False
    assert quick_version(["--data-dir"]) is False
    assert quick_version(["--data-dir="]) is False
