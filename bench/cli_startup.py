"""CLI start-up time (issue #21): ``hostgate --version``, ``--help`` and ``cluster status`` against a healthy
lone server, each next to ``python -c pass`` of the same interpreter in the same run.

The baseline is the interpreter the ``hostgate`` script runs on (``sys.executable``), not the ``python3`` on
PATH: here that is a pyenv shim (a shell script) that alone costs 3x the interpreter's start. Runs alternate
the commands, so other load on the machine hits them alike; printed are medians. Goal: ``hostgate --version``
<= 4 x ``python -c pass``.

    python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hostgate.cli.lab import installation

GOAL = 4.0


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    script = str(Path(sys.executable).parent / "hostgate")
    with tempfile.TemporaryDirectory(prefix="hg-clistart-") as tmp, installation(Path(tmp)) as inst:
        member = inst.install_first(store="sqlite")
        member.start()
        member.wait_healthy()
        status = [script, "cluster", "status", *inst.client_args()]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "hostgate --version": [script, "--version"],
            "hostgate --help": [script, "--help"],
            "hostgate cluster status (lone server)": status,
        }
        for argv in commands.values():
            _time(argv)  # warm the page cache once
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(_time(argv))
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<40} {'median':>9} {'x python':>9}")
    for name, samples in times.items():
        med = statistics.median(samples)
        print(f"{name:<40} {med * 1000:7.1f} ms {med / base:8.1f}x")
    ratio = statistics.median(times["hostgate --version"]) / base
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"goal: hostgate --version <= {GOAL:g} x python -c pass: {ratio:.1f}x ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
