"""``make chaos TRIALS=100 SEED=...``: the long nemesis run and its table.

    python -m tests.chaos.run --trials 100 --seed 42 [--duration 10] [--faults kill-member partition ...]

Trials run in batches on one installation each (``--per-cluster``), so a cluster that a trial left in a bad
state does not poison the rest; each batch's seed is printed. Exit status 1 if any acknowledged write was
lost, any register history was not linearizable, or a fault could not be healed.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.chaos.nemesis import ALL_KINDS
from tests.chaos.suite import run_trials

__all__ = ["main", "summarize"]


def summarize(results: list[dict[str, Any]]) -> tuple[str, bool]:
    """The table the issue asks for, and whether the run is clean."""
    kinds: dict[str, int] = {}
    during: dict[str, list[int]] = {}
    ops = acked = lost = phantom = 0
    violations: list[str] = []
    stale: list[str] = []
    undecided: list[str] = []
    heal: list[str] = []
    for r in results:
        for f in r["faults"]:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        ops += r["operations"]
        acked += r["acked_writes"]
        lost += len(r["lost"])
        phantom += len(r["phantom_refusals"])
        violations += [f"{reg} (seed {r['seed']})" for reg in r["violations"]]
        stale += [f"{reg} (seed {r['seed']})" for reg in r["stale_reads"]]
        undecided += [f"{reg} (seed {r['seed']})" for reg in r.get("undecided", [])]
        heal += [f"seed {r['seed']}: {p}" for p in r["heal_problems"]]
        for cls, (ok, n) in r["availability"]["during"].items():
            slot = during.setdefault(cls, [0, 0])
            slot[0] += ok
            slot[1] += n
    rows = [
        ("trials", str(len(results))),
        *((f"faults: {k}", str(kinds.get(k, 0))) for k in ALL_KINDS),
        ("operations", str(ops)),
        ("acknowledged writes", str(acked)),
        ("acknowledged writes lost", str(lost)),
        ("'already exists' for a name only we created", str(phantom)),
        ("linearizability violations", str(len(violations))),
        ("stale reads of a member's copy (by design)", str(len(stale))),
        ("histories too large to decide (search budget)", str(len(undecided))),
        ("faults that did not heal", str(len(heal))),
    ]
    for cls in ("down", "hung", "partitioned", "session-down"):
        ok, n = during.get(cls, [0, 0])
        rows.append((f"availability while one {'member is ' + cls if cls != 'session-down' else 'session server is down'}",
                     f"{100 * ok / n:.1f}% of {n} ops" if n else "-"))  # fmt: skip
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    if violations:
        lines.append("violations: " + ", ".join(violations[:20]))
    if heal:
        lines += ["heal problems:", *(f"  {h}" for h in heal[:10])]
    clean = not (lost or violations or heal)
    return "\n".join(lines), clean


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so every batch's `finally` removes its namespaces,
    # veths and processes instead of leaving a cluster running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load and faults per trial")
    p.add_argument("--per-cluster", type=int, default=10, help="trials on one installation")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--faults", nargs="+", default=list(ALL_KINDS), choices=ALL_KINDS)
    p.add_argument("--no-netns", action="store_true", help="everything on 127.0.0.x; no partitions")
    p.add_argument("--keep", type=Path, default=None, help="keep data directories and logs here")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**9)
    print(f"[chaos] {args.trials} trials, seed {seed}, faults {' '.join(args.faults)}", flush=True)
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hostgate-chaos-") as tmp:
        base = args.keep or Path(tmp)
        done = 0
        while done < args.trials:
            batch = min(args.per_cluster, args.trials - done)
            run = run_trials(
                base / f"batch{done // args.per_cluster:03d}",
                seed=seed + done, trials=batch, duration=args.duration, faults=args.faults,
                clients=args.clients, use_netns=not args.no_netns, echo=True,
            )  # fmt: skip
            if run.skipped_kinds:
                print(f"[chaos] skipped {', '.join(run.skipped_kinds)}: {run.skip_reason}", flush=True)
            if run.returncode != 0 or len(run.results) < batch:
                print(
                    f"[chaos] batch from seed {seed + done} ended early (exit {run.returncode})", flush=True
                )
            results += run.results
            done += batch
    table, clean = summarize(results)
    print(f"\n[chaos] seed {seed}, {time.monotonic() - started:.0f} s\n{table}", flush=True)
    return 0 if clean and len(results) == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
