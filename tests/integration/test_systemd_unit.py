"""`hostgate systemd-unit`: the unit it writes passes `systemd-analyze verify` with no warning, and carries the
restart policy, the sandbox and the data directory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hostgate.cli.lab import Installation, installation


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    with installation(tmp_path_factory.mktemp("unit")) as inst:
        inst.install_first(store="etcd")
        yield inst


def _keys(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_names_the_data_dir_and_is_sandboxed(installed: Installation, tmp_path: Path) -> None:
    member = installed.members[0]
    unit = tmp_path / "hostgate.service"
    proc = installed.hostgate(
        "systemd-unit", "--data-dir", str(member.data_dir), "--user", "root", "-o", str(unit)
    )
    assert "systemctl daemon-reload" in proc.stdout
    keys = _keys(unit.read_text())
    assert keys["Restart"] == ["on-failure"]
    assert keys["User"] == ["root"] and keys["Group"] == ["root"]
    assert keys["ReadWritePaths"] == [str(member.data_dir)]
    exec_start = keys["ExecStart"][0]
    assert f"server --data-dir {member.data_dir} --log-format json" in exec_start
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "KillSignal": "SIGTERM",
        "CapabilityBoundingSet": "",  # the API port is above 1024: no capability at all
        "Environment": "HOSTGATE_LOG_FILE=",
    }.items():
        assert value in keys[key], (key, keys.get(key))
    assert unit.stat().st_mode & 0o777 == 0o644
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the unit was not verified")
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # systemd-analyze exits 0 on unknown keys and bad values too, with a warning: no output at all is the pass.
    assert verify.returncode == 0 and verify.stdout + verify.stderr == "", verify.stdout + verify.stderr


def test_an_existing_unit_is_kept_and_bad_names_refused(installed: Installation, tmp_path: Path) -> None:
    data_dir = str(installed.members[0].data_dir)
    unit = tmp_path / "hostgate.service"
    unit.write_text("mine\n")
    proc = installed.hostgate("systemd-unit", "--data-dir", data_dir, "-o", str(unit), check=False)
    assert proc.returncode == 2 and "HG-1003" in proc.stderr and "--force" in proc.stderr
    assert unit.read_text() == "mine\n"
    proc = installed.hostgate("systemd-unit", "--data-dir", data_dir, "--user", "bad user", check=False)
    assert proc.returncode == 2 and "HG-1003" in proc.stderr and proc.stdout == ""
    installed.hostgate("systemd-unit", "--data-dir", data_dir, "-o", str(unit), "--force")
    assert unit.read_text().startswith("# Written by `hostgate systemd-unit`")
