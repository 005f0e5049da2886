"""A scaffolded project's own test passes against a real lab cluster with a real 3270 host (#19).

``hostgate scaffold orders --out DIR`` reads the deployed model's catalog from the cluster (as the caller,
through the alias), writes the project, and its pytest runs in a subprocess with the settings in the
environment (alias, port, domain, CA, user, password file, hosts file) as its README says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.hosts import HostProcess, host_3270
from tests.helpers.ws_lab import ALIAS, WsLab, ws_lab

__all__ = ["host_3270"]

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_3270: HostProcess) -> Iterator[WsLab]:
    with ws_lab(tmp_path_factory.mktemp("wsscaffold"), host_3270) as found:
        yield found


def _env(lab: WsLab, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
    return {
        **env,
        "HOSTGATE_ALIAS": ALIAS,
        "HOSTGATE_PORT": str(lab.inst.api_port),
        "HOSTGATE_DOMAIN": "prod",
        "HOSTGATE_CA_FILE": str(lab.inst.ca_file),
        "HOSTGATE_USER": "admin",
        "HOSTGATE_PASSWORD_FILE": str(lab.inst.password_file),
        "HOSTGATE_HOSTS_FILE": str(lab.hosts_file),
        **extra,
    }


def test_the_scaffolded_projects_own_test_passes_against_the_lab(lab: WsLab, tmp_path: Path) -> None:
    model_file = lab.activate("orders", lab.s1, lab.s2)
    out = tmp_path / "orders-app"
    made = subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", "scaffold", "orders", "--out", str(out),
         "--management", lab.alias, "--hosts-file", str(lab.hosts_file), "--ca-file", str(lab.inst.ca_file),
         "--user", "admin", "--password-file", str(lab.inst.password_file)],
        capture_output=True, text=True, timeout=120, env=_env(lab),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "scaffolded model orders" in made.stdout
    # The deployed model's catalog and its file's make the same client (same text, same digest).
    from_file = tmp_path / "from-file"
    subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", "scaffold", str(model_file), "--out", str(from_file)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert (out / "orders_client.py").read_text() == (from_file / "orders_client.py").read_text()

    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA"],
        cwd=out, capture_output=True, text=True, timeout=600, env=_env(lab),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "3 passed" in ran.stdout and "skipped" not in ran.stdout, ran.stdout

    # Its client answers the host's rows, typed (the 3270 host's customer numbers are integers).
    probe = (
        "import orders_client as c\n"
        "with c.connect() as s:\n"
        "    rows = c.list_customers(s)\n"
        "print(len(rows), type(rows[0].number).__name__, rows[0].name)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=out, capture_output=True, text=True, timeout=300, env=_env(lab)
    )
    assert shown.returncode == 0, shown.stderr
    count, kind, name = shown.stdout.split(maxsplit=2)
    assert int(count) > 0 and kind == "int" and name.strip()


def test_without_settings_the_live_test_fails_naming_the_missing_setting(lab: WsLab, tmp_path: Path) -> None:
    lab.activate("orders", lab.s1)
    out = tmp_path / "p"
    subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", "scaffold", str(lab.model_file("orders")), "--out", str(out)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert ran.returncode == 1
    assert "SettingsError: set HOSTGATE_ALIAS (or alias in [hostgate] of hostgate-app.toml)" in ran.stdout
