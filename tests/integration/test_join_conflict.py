"""A join naming a member the cluster already has is a conflict (issue #21): HG-1074, exit code 4, nothing written.

Before, it was the join failure HG-4002 (exit 1), so a script re-running an install could not tell "already a
member" from a join that broke. Real processes: one etcd-backed member, the CLI a user would run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hostgate.cli.lab import installation, start_cluster

pytestmark = [
    pytest.mark.slow,
    pytest.mark.etcd,
    pytest.mark.skipif(
        shutil.which("etcd") is None, reason="needs Debian etcd-server (make test installs it)"
    ),
]


def test_a_join_with_a_taken_member_name_is_a_conflict_and_writes_nothing(tmp_path: Path) -> None:
    with installation(tmp_path) as inst:
        (first,) = start_cluster(inst, 1)
        before = inst.status(first)
        data_dir = tmp_path / "second"
        proc = inst.hostgate(
            "install",
            "--data-dir", str(data_dir),
            "--address", "127.0.0.2",
            "--port", str(first.port),
            "--member-name", first.name,
            "--join", first.target,
            "--ca-file", str(inst.ca_file),
            "--admin-password-file", str(inst.password_file),
            check=False,
        )  # fmt: skip
        assert proc.returncode == 4, (proc.returncode, proc.stderr)
        assert "HG-1074" in proc.stderr and first.name in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert not data_dir.exists() or not any(data_dir.iterdir())
        after = inst.status(first)
        assert [m["name"] for m in after["members"]] == [m["name"] for m in before["members"]]
