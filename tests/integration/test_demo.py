"""`hostgate demo` (issue #21), run whole as `make demo` runs it, on addresses of its own: every command it
prints is copyable (no "…", real paths), the frozen-member figure is measured, the quorum-loss step shows
HG-2002 and the recovery, and the closing table puts each claim next to its figure, all held."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.etcd, pytest.mark.timeout(900)]


def test_the_demo_tells_the_whole_story_with_measured_figures(tmp_path: Path) -> None:
    workdir = tmp_path / "demo run"  # a space: the printed commands must quote it
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
    env["HOSTGATE_DEMO_SESSION_ADDRESSES"] = "127.0.0.44,127.0.0.45,127.0.0.46"
    proc = subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", "demo", "--workdir", str(workdir),
         "--addresses", "127.0.0.41,127.0.0.42,127.0.0.43"],
        capture_output=True, text=True, timeout=840, env=env,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, f"{out}\n{proc.stderr}"
    assert "…" not in out and "..." not in out

    commands = [line.split("$ ", 1)[1] for line in out.splitlines() if line.startswith("   $ ")]
    hostgate = [shlex.split(c) for c in commands if not c.startswith("kill ")]
    assert len(hostgate) > 20
    for argv in hostgate:
        assert Path(argv[0]).name == "hostgate" or argv[:2] == [sys.executable, "-m"], argv
        for value in argv[1:]:
            if value.startswith("/"):
                assert Path(value).is_relative_to(workdir), f"{value}: not a path of this run"
    assert f"--data-dir {shlex.quote(str(workdir / 'workhorse01'))}" in out
    assert re.search(r"--address 127\.0\.0\.41 --port \d+ ", out) and "127.0.0.44" in out
    kills = [c for c in commands if c.startswith("kill ")]
    assert any(re.fullmatch(r"kill -KILL -- -\d+", k) for k in kills)
    assert any(re.fullmatch(r"kill -STOP \d+", k) for k in kills)

    frozen = re.search(r"answered by (workhorse0[23](, workhorse0[23])?) after median (\d+\.\d+) s", out)
    assert frozen, out
    assert "HG-2002" in out and "majority" in out
    assert re.search(r"User after-recovery added, \d+\.\d+ s after the two members were started again", out)

    table = out.split("What this run showed", 1)[1].splitlines()
    rows = [line for line in table if line.rstrip().endswith((" yes", " NO"))]
    claims = {re.split(r"\s{2,}", row.strip())[0]: row for row in rows}
    for claim in (
        "writes resume after kill -9 of the store leader",
        "no acknowledged write is lost",
        "a frozen member costs a client about one stagger (0.25 s), not a timeout",
        "without a majority, writes are refused with HG-2002",
        "reads go on without a majority",
        "writes come back with the majority",
        "a client reconnects via the domain past a killed session server",
        "a model captured in the web console passes `model check`",
    ):
        assert claim in claims, f"{claim!r} missing from the table:\n" + "\n".join(table)
        assert claims[claim].rstrip().endswith(" yes"), claims[claim]
    frozen_row = claims["a frozen member costs a client about one stagger (0.25 s), not a timeout"]
    assert f"median {float(frozen.group(3)):.2f} s" in frozen_row  # the figure measured above, not fixed text
