"""The CLI never wraps its output when it is not a terminal, however long a path and whatever $COLUMNS (#14.9).

rich wraps at 80 columns (or $COLUMNS) when stdout is a pipe, so from a clone in a deeper folder the model
summary broke across lines and tests/models/test_model_cmd.py failed. Run as real processes (stdout a pipe, as
for scripts and tests); the paths here are longer than any terminal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.hosts import SAMPLES

# None: $COLUMNS unset (rich's default of 80 applies); "20": a narrow terminal's value leaking into a script.
COLUMNS = [None, "20"]


def _run(*args: str, columns: str | None) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES") and not k.startswith("HOSTGATE_")
    }
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    directory = tmp_path.joinpath(*(f"a-rather-long-directory-name-{i}" for i in range(6)), "x[red]y")
    directory.mkdir(parents=True)
    assert len(str(directory)) > 200
    return directory


@pytest.mark.parametrize("columns", COLUMNS)
def test_model_check_summary_stays_on_one_line(deep: Path, columns: str | None) -> None:
    model = deep / "demo5250.yaml"
    shutil.copy(SAMPLES / "demo5250.yaml", model)
    done = _run("model", "check", str(model), columns=columns)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # The whole path, literally (its "[red]" is not rich markup), and the summary, each on one line.
    assert f"{model}: valid model demo5250 (format 1)" in lines, lines
    assert "  4 entities, 7 operations, 1 recordsets, 1 tables, 2 procedures" in lines, lines


@pytest.mark.parametrize("columns", COLUMNS)
def test_resolve_table_keeps_a_long_note_on_one_line(deep: Path, columns: str | None) -> None:
    hosts, system = deep / "hosts", deep / "system-hosts"
    hosts.write_text("127.0.0.5 m5 other\n")
    system.write_text("127.0.0.7 m7 myalias\n")
    done = _run(
        "resolve", "myalias", "--hosts-file", str(hosts), "--system-hosts", str(system),
        "--source", "hosts_file", "--source", "system_hosts", columns=columns,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("│ hosts_file ")]
    assert len(rows) == 1 and f"myalias is not in {hosts} " in rows[0], done.stdout


@pytest.mark.parametrize("columns", COLUMNS)
def test_a_coded_error_naming_a_long_path_stays_on_one_line(deep: Path, columns: str | None) -> None:
    model = deep / "demo5250.yaml"
    shutil.copy(SAMPLES / "demo5250.yaml", model)
    done = _run("model", "deploy", str(model), "--data-dir", str(deep / "no-such-dir"), columns=columns)
    assert done.returncode != 0
    first = done.stderr.splitlines()[0]
    assert first.startswith("error HG-") and str(deep / "no-such-dir") in first, done.stderr
