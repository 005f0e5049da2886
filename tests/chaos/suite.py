"""Run nemesis trials: make the namespaces (if possible), start the driver inside them, collect the results.

Used by ``tests/chaos/test_nemesis.py`` (the short run in ``make test``) and ``tests/chaos/run.py``
(``make chaos``). Namespaces, veths and every process are removed in ``finally``, even when a trial fails or
the driver is killed: the driver's children die with it (PR_SET_PDEATHSIG), and ``Netns.destroy`` kills
whatever still runs inside the namespaces before deleting them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chaos.nemesis import ALL_KINDS
from tests.chaos.netns import Netns, netns_unavailable_reason

__all__ = ["Run", "run_trials"]

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Run:
    results: list[dict[str, Any]]
    returncode: int
    netns: bool
    skipped_kinds: tuple[str, ...]
    skip_reason: str
    output: str


def run_trials(
    root: Path,
    *,
    seed: int,
    trials: int,
    duration: float,
    faults: Sequence[str] = ALL_KINDS,
    clients: int = 4,
    use_netns: bool = True,
    timeout: float = 1800.0,
    echo: bool = False,
) -> Run:
    """Install a cluster under ``root`` and run ``trials`` trials of ``duration`` seconds from ``seed``."""
    root.mkdir(parents=True, exist_ok=True)
    reason = netns_unavailable_reason() if use_netns else "namespaces not requested"
    netns = Netns(members=3) if reason is None else None
    kinds = tuple(faults)
    skipped: tuple[str, ...] = ()
    if netns is None and "partition" in kinds:
        kinds = tuple(k for k in kinds if k != "partition")
        skipped = ("partition",)
    out = root / "results.jsonl"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "tests.chaos.trial",
        "--root", str(root / "cluster"), "--out", str(out), "--seed", str(seed),
        "--trials", str(trials), "--duration", str(duration), "--clients", str(clients),
        "--faults", *kinds,
    ]  # fmt: skip
    # The repository first (the tests package), then whatever the caller had (a checkout's src/ under test).
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "GRPC_ENABLE_FORK_SUPPORT": "0", "PYTHONPATH": pythonpath}
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = []
    try:
        if netns is not None:
            netns.create()
            cmd = [*netns.exec_prefix(netns.hub), *cmd, "--netns-prefix", netns.prefix]
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None
        # The driver bounds itself; this is the backstop if it hangs (the whole group, ours by construction).
        watchdog = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        watchdog.daemon = True
        watchdog.start()
        for line in proc.stdout:  # ends when the driver exits (bounded by its own trials and deadlines)
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
        proc.wait(30)
        watchdog.cancel()
    finally:
        if proc is not None:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
            if proc.stdout is not None:
                proc.stdout.close()
        if netns is not None:
            netns.destroy()
    results = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return Run(
        results, proc.returncode if proc else -1, netns is not None, skipped, reason or "", "".join(lines)
    )
