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
