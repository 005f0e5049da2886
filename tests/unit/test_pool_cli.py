"""``hostgate pool``: what the CLI refuses before it connects (coded HG-1003, exit 2), and its rule syntax."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hostgate.cli.pool_cmds import _rule, _stored_list
from hostgate.errors import UsageError


def hostgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", *args], capture_output=True, text=True, timeout=60
    )


def test_create_without_the_required_settings_is_refused_before_connecting(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"  # never read: the command stops first
    proc = hostgate("pool", "create", "orders", "--server", "nowhere.invalid", "--ca-file", str(ca))
    assert proc.returncode == 2, proc.stderr
    assert "HG-1003" in proc.stderr and "--model, --startup-entity, --max-concurrent" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_rules_read_a_window_or_a_cron_expression_and_refuse_unknown_settings() -> None:
    window = _rule("mon-fri 08:00-18:00 min_idle=5 max_idle=8")
    assert (window.when, window.min_idle, window.max_idle, window.max_concurrent) == (
        "mon-fri 08:00-18:00",
        5,
        8,
        None,
    )
    cron = _rule("0 8 * * 1-5 minutes=600 max_concurrent=10")
    assert (cron.when, cron.minutes, cron.max_concurrent) == ("0 8 * * 1-5", 600, 10)
    with pytest.raises(UsageError, match="must be one of"):
        _rule("mon 08:00-09:00 max_sessions=3")


def test_a_stored_list_is_read_from_a_local_csv(tmp_path: Path) -> None:
    csv_file = tmp_path / "creds.csv"
    csv_file.write_text("userid,password\nADA,LOVELACE\nBOB,BUILDER\n")
    listed = _stored_list("creds", str(csv_file))
    assert listed.columns == ("userid", "password") and len(listed.secret_entries) == 2
    with pytest.raises(UsageError, match="cannot read variable list file"):
        _stored_list("x", str(tmp_path / "none.csv"))
