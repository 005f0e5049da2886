"""Run every benchmark in bench/ (``make bench``); each prints its figures next to a baseline from the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = [
    "cli_startup.py",
    "store_failover.py",
    "failover.py",
    "routing.py",
    "sessions.py",
    "guarded_writes.py",
    "abuse.py",
    "webservices.py",
    "pools.py",
    "metrics_cost.py",
]


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = 0
    for name in BENCHES:
        print(f"\n### {name}", flush=True)
        failed += subprocess.call([sys.executable, str(here / name)], cwd=here.parent) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
