"""`hostgate model check`: exit 0 and a summary for a valid model, exit 1 and every error with its path.

Run as a real process: click caches each command's help option on first use, so invoking the CLI in-process
would change the --help text tests/unit/test_cli_docs.py renders afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.hosts import SAMPLES


class _Result:
    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.exit_code = done.returncode
        self.output = done.stdout + done.stderr
        self.stdout = done.stdout


def hostgate(*args: str) -> _Result:
    done = subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return _Result(done)


BAD = """format_version: 1
name: broken
host: {type: "3270", address: 127.0.0.1, port: 3270}
navigation: {start: Nope}
entities:
  A:
    rules: [{text: X, row: 30}]
"""


def test_valid_model_exits_0_with_a_summary() -> None:
    result = hostgate("model", "check", str(SAMPLES / "demo5250.yaml"))
    assert result.exit_code == 0, result.output
    assert "valid model demo5250" in result.output and "4 entities" in result.output


def test_valid_model_as_json() -> None:
    result = hostgate("model", "check", "--json", str(SAMPLES / "demovt.yaml"))
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["valid"] is True and summary["host"]["type"] == "vt"
    assert "customers.list_customers" in summary["procedures"]


def test_invalid_model_exits_1_listing_each_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = hostgate("model", "check", str(path))
    assert result.exit_code == 1
    assert "entities.A.rules[0].row: 30 is outside the 24x80 screen (line 7)" in result.output
    assert "navigation.start: no entity 'Nope'" in result.output
    assert "HG-6001" in result.output and "Traceback" not in result.output


def test_invalid_model_as_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [\n")
    result = hostgate("model", "check", "--json", str(path))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["code"] == "HG-6002"
    assert report["errors"][0]["line"] == 2


def _session_data_dir(tmp_path: Path, roles: str = '["session"]') -> Path:
    data = tmp_path / "data"
    data.mkdir(parents=True)
    (data / "hostgate.toml").write_text(
        f'[server]\nmember_name = "session01"\naddress = "127.0.0.11"\nroles = {roles}\n'
        '[session]\nmanagement = "vhi-prod-sea"\n'
    )
    return data


def test_deploy_puts_a_valid_model_in_place_and_list_shows_it(tmp_path: Path) -> None:
    data = _session_data_dir(tmp_path)
    result = hostgate("model", "deploy", str(SAMPLES / "demo5250.yaml"), "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    assert "Deployed model demo5250" in result.output and "new model" in result.output
    assert (data / "models" / "demo5250.yaml").read_bytes() == (SAMPLES / "demo5250.yaml").read_bytes()
    (data / "models" / "junk.yaml").write_text("name: [\n")
    listed = json.loads(hostgate("model", "list", "--json", "--data-dir", str(data)).stdout)
    rows = {m["name"]: m for m in listed["models"]}
    assert rows["demo5250"]["valid"] is True and rows["demo5250"]["host"] == "5250 127.0.0.1:5250"
    assert rows["junk"]["valid"] is False and rows["junk"]["code"] == "HG-6002"


def test_deploy_refuses_a_bad_model_whole(tmp_path: Path) -> None:
    data = _session_data_dir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = hostgate("model", "deploy", "--json", str(bad), "--data-dir", str(data))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False and len(report["errors"]) >= 2
    assert not (data / "models").exists() or not any((data / "models").iterdir())
    management = _session_data_dir(tmp_path / "m", '["management"]')
    refused = hostgate("model", "deploy", str(SAMPLES / "demo5250.yaml"), "--data-dir", str(management))
    assert refused.exit_code == 2 and "not a session server's data directory" in refused.output
