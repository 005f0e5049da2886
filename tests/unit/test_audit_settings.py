"""``[audit]`` in hostgate.toml: defaults, the file, the environment, and out-of-range values refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostgate.config.settings import AuditSettings, load_settings, write_settings
from hostgate.errors import ConfigError

GOOD = """
[server]
member_name = "workhorse01"
address = "127.0.0.1"
cluster_id = "abc"
"""


def _dir(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "hostgate.toml").write_text(GOOD + extra)
    return tmp_path


def test_defaults_the_file_and_the_environment(tmp_path: Path) -> None:
    assert load_settings(_dir(tmp_path), env={}).audit == AuditSettings(90.0, 100_000, 10_000, 3600.0)
    s = load_settings(_dir(tmp_path, "[audit]\nretention_days = 7\nmax_entries = 500\n"), env={})
    assert (s.audit.retention_days, s.audit.max_entries) == (7.0, 500)
    s = load_settings(tmp_path, env={"HOSTGATE_AUDIT_MAX_ENTRIES": "42"})
    assert s.audit.max_entries == 42
    write_settings(s)  # round trip through the written file
    assert load_settings(tmp_path, env={}).audit == s.audit


@pytest.mark.parametrize(
    "line",
    ["retention_days = 0", "retention_days = nan", "max_entries = 0", "queue = -1", "prune_interval = 0.1"],
)
def test_out_of_range_values_are_refused_by_name(tmp_path: Path, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_dir(tmp_path, f"[audit]\n{line}\n"), env={})
    assert f"audit.{line.split()[0]}" in caught.value.message
