"""`hostgate testhost 3270|5250|vt` (issue #21): starts the demo host a sample model expects, where the sample
expects it, says how to sign on, and stops it (its own child only) on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from hostgate.cli.lab import PYTHON, free_port, poll
from hostgate.cli.testhost_cmd import DEFAULT_PORTS, SAMPLES
from hostgate.models import load_model
from tests.helpers.hosts import HOSTS_PYTHON

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_ports_are_the_samples_own() -> None:
    for kind, sample in SAMPLES.items():
        host = load_model(ROOT / "samples" / "models" / f"{sample}.yaml").host
        assert (host.address, host.port) == ("127.0.0.1", DEFAULT_PORTS[kind]), kind


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _run_until_listening(*args: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    """Start `hostgate testhost ARGS`, read its "listening" line, Ctrl-C it; (that line, its exit code)."""
    with subprocess.Popen(
        [PYTHON, "-m", "hostgate.cli.main", "testhost", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            port = int(line.split("listening on 127.0.0.1:")[1].split()[0]) if "listening on" in line else 0
            assert port and _accepts(port), (line, proc.stderr.read() if proc.stderr else "")
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    # Its host went with it: nothing listens on the port any more.
    poll("the test host's port to close", lambda: not _accepts(port), 20)
    return line, rc


def test_vt_host_runs_until_ctrl_c() -> None:
    port = free_port("127.0.0.1")
    line, rc = _run_until_listening("vt", "--port", str(port))
    assert f"vt test host for samples/models/demovt.yaml listening on 127.0.0.1:{port}" in line
    assert "user ADA, password LOVELACE" in line
    assert rc == 130


@pytest.mark.skipif(not HOSTS_PYTHON.exists(), reason="needs .venv-hosts (make testhosts)")
@pytest.mark.parametrize("kind", ["3270", "5250"])
def test_mainframe_host_runs_until_ctrl_c(kind: str) -> None:
    line, rc = _run_until_listening(kind, "--port", "0")
    assert f"{kind} test host for samples/models/demo{kind}.yaml listening on 127.0.0.1:" in line
    assert rc == 130


def test_a_missing_mainframe_mocker_says_how_to_install_it(tmp_path: Path) -> None:
    env = {**os.environ, "HOSTGATE_HOSTS_PYTHON": str(tmp_path / "no-python")}
    done = subprocess.run(
        [PYTHON, "-m", "hostgate.cli.main", "testhost", "3270"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "error HG-1073: mainframe-mocker" in done.stderr and "make testhosts" in done.stderr
    assert "HOSTGATE_HOSTS_PYTHON" in done.stderr


@pytest.mark.parametrize("address", ["0.0.0.0", "::0"])
def test_every_interface_is_refused(address: str) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "hostgate.cli.main", "testhost", "vt", "--address", address],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "HG-1003" in done.stderr
