"""CLI start-up time (issue #21): ``hostgate --version``, ``--help`` and ``cluster status`` against a healthy
lone server, each next to ``python -c pass`` of the same interpreter in the same run, and the import time of
``cluster status``'s modules alone (what start-up costs before the request; dnspython is not among them since
issue #21: it loads at the first DNS lookup).

The baseline is the interpreter the ``hostgate`` script runs on (``sys.executable``), not the ``python3`` on
PATH: here that is a pyenv shim (a shell script) that alone costs 3x the interpreter's start. Runs alternate
the commands, so other load on the machine hits them alike; printed are medians. Goal: ``hostgate --version``
<= 4 x ``python -c pass``.

    python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hostgate.cli.lab import installation

GOAL = 4.0
_STATUS_IMPORTS = "import hostgate.cli.main, hostgate.cli._lazy, hostgate.cli.cluster_cmds"


def _time(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run. CPU too, because on a loaded machine the wall
    clock mostly measures the wait for a core: CPU is what the command itself costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


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
            # What the command's imports alone cost (no click run, no request): the start-up part of the above.
            "import of cluster status's modules": [sys.executable, "-c", _STATUS_IMPORTS],
        }
        for argv in commands.values():
            _time(argv)  # warm the page cache once
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                wall, used = _time(argv)
                times[name].append(wall)
                cpu[name].append(used)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    base = statistics.median(times["python -c pass"])
    cpu_base = statistics.median(cpu["python -c pass"])
    print(f"{'command':<40} {'wall':>9} {'x python':>9} {'CPU':>9} {'x python':>9}")
    for name in commands:
        med, used = statistics.median(times[name]), statistics.median(cpu[name])
        print(
            f"{name:<40} {med * 1000:6.0f} ms {med / base:8.1f}x {used * 1000:6.0f} ms "
            f"{used / max(cpu_base, 1e-3):8.1f}x"
        )
    ratio = statistics.median(times["hostgate --version"]) / base
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"goal: hostgate --version <= {GOAL:g} x python -c pass (wall): {ratio:.1f}x ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
