"""The trial driver: install the cluster once, then run trials (clients + nemesis, heal, check), one JSON line each.

It runs where the clients live: inside the hub namespace (``ip netns exec PREFIX-hub python -m
tests.chaos.trial ...``) or, without namespaces, beside the members on 127.0.0.x. ``tests/chaos/suite.py``
starts it; it can also be run by hand with the same arguments.

A trial: read every register straight from etcd (the initial states), run the clients and the nemesis for
``--duration`` seconds, heal everything and wait until every member and session server answers, read every
register from etcd again (a linearizable read after all clients stopped), then check each register's history
with the linearizability checker twice: with the operations the API promises to be linearizable (writes,
compare-and-sets, and the domain record a weight change answers) and again with the reads of members'
in-memory copies added (those may lag by design, "reads survive": docs/architecture.md). The first check
failing is a violation; only the second failing is a stale read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hostgate.cli.lab import poll
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import Conflict
from hostgate.management.records import CLUSTER_KEY, ClusterInfo, DomainRecord, domain_key
from tests.chaos.cluster import PASSWORD, ChaosCluster
from tests.chaos.linearizability import RECORD, REGISTER, CheckResult, Model, Op, check, format_op
from tests.chaos.nemesis import Fault, Nemesis
from tests.chaos.netns import Netns
from tests.chaos.workload import DOMAIN, FLAG, ROUTER_CLIENT, Recorder, run_clients

__all__ = ["main"]

FINAL_CLIENT = 10_000  # the client id of the end-of-trial etcd reads


def _registers(kv: dict[str, bytes]) -> dict[str, Any]:
    name = ClusterInfo.decode(CLUSTER_KEY, kv[CLUSTER_KEY]).name
    dom = DomainRecord.decode(domain_key(DOMAIN), kv[domain_key(DOMAIN)])
    return {
        "name": name,
        "weights": frozenset((m.server, m.weight) for m in dom.members),
        "flag": domain_key(FLAG) in kv,
    }


_MODELS: dict[str, Model] = {"name": REGISTER, "weights": RECORD, "flag": REGISTER}


def _check_registers(
    rec: Recorder, initial: dict[str, Any], final: dict[str, Any], t0: float, t1: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for register, model in _MODELS.items():
        ops = [e.op for e in rec.events if e.register == register and not e.cache_read]
        cache = [e.op for e in rec.events if e.register == register and e.cache_read]
        final_read = Op(FINAL_CLIENT, ("read",), final[register], t0, t1, "etcd")
        strict = check(model, [*ops, final_read], initial=initial[register])
        with_cache: CheckResult | None = None
        if strict.ok and cache:
            with_cache = check(model, [*ops, *cache, final_read], initial=initial[register])
        out[register] = {
            "ops": len(ops) + len(cache),
            "ambiguous": sum(1 for op in ops if op.ambiguous),
            "linearizable": strict.ok,
            "undecided": strict.timed_out,  # the search budget ran out: neither a pass nor a violation
            "stale_reads": bool(with_cache is not None and not with_cache.ok and not with_cache.timed_out),
            "explain": "" if strict.ok else strict.explain(),
            "explain_stale": with_cache.explain() if with_cache is not None and not with_cache.ok else "",
            # The whole history when something is wrong: the reproduction a person reads.
            "history": []
            if strict.ok
            else [format_op(op) for op in sorted([*ops, *cache, final_read], key=lambda o: o.call)],
            "initial": repr(initial[register]),
        }
    return out


def _applied(op: Op) -> bool:
    """An acknowledged write: answered, and not a compare-and-set that answered "did not match"."""
    return not op.ambiguous and op.input[0] != "read" and op.output is not False


def _availability(rec: Recorder, faults: list[Fault], t_start: float) -> dict[str, Any]:
    per_second: dict[int, list[int]] = {}
    for r in rec.routes:
        if r.client != ROUTER_CLIENT:
            continue
        slot = per_second.setdefault(int(r.call - t_start), [0, 0])
        slot[0] += r.ok
        slot[1] += 1
    during: dict[str, list[int]] = {}
    ops = [(e.op.call, not e.op.ambiguous) for e in rec.events] + [(r.call, r.ok) for r in rec.routes]
    for f in faults:
        end = f.end or math.inf
        cls = {"kill-member": "down", "stop-member": "hung", "stop-etcd": "hung", "stop-api": "hung"}.get(
            f.kind, "partitioned" if f.kind == "partition" else "session-down"
        )
        slot = during.setdefault(cls, [0, 0])
        for call, ok in ops:
            if f.start <= call < end:
                slot[0] += ok
                slot[1] += 1
    return {
        "route_per_second": [per_second.get(s, [0, 0]) for s in range(max(per_second, default=-1) + 1)],
        "during": during,
    }


def _setup_domains(cluster: ChaosCluster) -> None:
    async def go() -> None:
        client = ClusterClient(
            cluster.target, ca_file=cluster.ca_file, user="admin", password=PASSWORD,
            hosts_file=cluster.hosts_file, system_hosts=cluster.hosts_file,
        )  # fmt: skip
        try:
            await client.request("POST", "/api/v1/domains", {"name": DOMAIN})
        except Conflict:
            # "already exists": a hedged second attempt lost the race to our own first (issue #14). Setup
            # is not under test; the domain is there either way (the GET proves it).
            await client.request("GET", f"/api/v1/domains/{DOMAIN}")
        for s in cluster.sessions:
            await client.request(
                "PUT", f"/api/v1/domains/{DOMAIN}/servers/{s.name}", {"weight": 1, "priority": 1}
            )

    asyncio.run(go())


def _wait_all_healthy(cluster: ChaosCluster) -> None:
    for m in [*cluster.members, *cluster.sessions]:
        m.wait_healthy(120)
    # Routing needs a live session server on the member that answers: wait for heartbeats to land.
    client = ClusterClient(
        cluster.target, ca_file=cluster.ca_file, user="admin", password=PASSWORD,
        hosts_file=cluster.hosts_file, system_hosts=cluster.hosts_file,
    )  # fmt: skip
    poll(
        "a route via domain chaos",
        lambda: client.request_sync("POST", "/api/v1/route", {"domain": DOMAIN}),
        60,
        0.2,
    )


def run_trial(
    cluster: ChaosCluster, netns: Netns | None, trial: int, seed: int, args: argparse.Namespace
) -> dict[str, Any]:
    rng = random.Random(seed)
    print(f"[chaos] trial {trial} seed {seed}", flush=True)
    initial = _registers(cluster.etcd_read())
    rec = Recorder(trial)
    nemesis = Nemesis(cluster, random.Random(rng.random()), tuple(args.faults), netns)
    t_start = time.monotonic()
    done = threading.Event()
    client_error: list[BaseException] = []

    def clients() -> None:
        try:
            asyncio.run(
                run_clients(
                    target=cluster.target, ca_file=cluster.ca_file, hosts_file=cluster.hosts_file,
                    password=PASSWORD, recorder=rec, rng=rng, clients=args.clients,
                    duration=args.duration, max_ops=args.max_ops,
                )
            )  # fmt: skip
        except BaseException as exc:
            client_error.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=clients, name="chaos-clients", daemon=True)
    worker.start()
    error = ""
    try:
        nemesis.run(t_start + args.duration, done)
    except Exception as exc:  # reported; the trial still heals and checks
        error = f"nemesis: {type(exc).__name__}: {exc}"
    finally:
        done.set()  # ends a fault's hold early
        worker.join(args.duration + 120)
        problems = nemesis.heal_all()
    if client_error:
        error += f" clients: {type(client_error[0]).__name__}: {client_error[0]}"
    _wait_all_healthy(cluster)
    t0 = time.monotonic()
    kv = cluster.etcd_read()
    t1 = time.monotonic()
    final = _registers(kv)
    registers = _check_registers(rec, initial, final, t0, t1)
    lost = [n for n in rec.unique_acked if domain_key(n) not in kv]
    phantom = [n for n in rec.unique_refused if domain_key(n) in kv]
    faults = [asdict(f) for f in nemesis.faults]
    result = {
        "trial": trial,
        "seed": seed,
        "faults": faults,
        "operations": len(rec.events)
        + len(rec.routes)
        + len(rec.unique_acked)
        + len(rec.unique_refused)
        + len(rec.unique_unknown),
        "acked_writes": sum(1 for e in rec.events if _applied(e.op)) + len(rec.unique_acked),
        "lost": lost,
        "phantom_refusals": phantom,
        "registers": registers,
        "violations": [r for r, v in registers.items() if not v["linearizable"] and not v["undecided"]],
        "undecided": [r for r, v in registers.items() if v["undecided"]],
        "stale_reads": [r for r, v in registers.items() if v["stale_reads"]],
        "availability": _availability(rec, nemesis.faults, t_start),
        "errors": rec.errors,
        "heal_problems": [f["problem"] for f in faults if f["problem"]] + problems,
        "error": error,
    }
    _print_trial(result)
    return result


def _print_trial(r: dict[str, Any]) -> None:
    kinds: dict[str, int] = {}
    for f in r["faults"]:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    print(
        f"[chaos] trial {r['trial']} seed {r['seed']}: {r['operations']} ops, faults {kinds}, "
        f"lost {len(r['lost'])}, violations {r['violations'] or 'none'}, stale reads {r['stale_reads'] or 'none'}",
        flush=True,
    )
    for name, reg in r["registers"].items():
        if reg["explain"]:
            print(f"[chaos]   register {name}: {reg['explain']}", flush=True)
    per_second = " ".join(f"{ok}/{n}" for ok, n in r["availability"]["route_per_second"])
    print(f"[chaos]   connect-via-domain per second (ok/attempts): {per_second}", flush=True)
    for problem in r["heal_problems"]:
        print(f"[chaos]   heal problem: {problem}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--trials", type=int, default=1)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--max-ops", type=int, default=300)
    p.add_argument("--faults", nargs="+", default=["kill-member"])
    p.add_argument("--netns-prefix", default="")
    args = p.parse_args(argv)
    netns = Netns(members=3, prefix=args.netns_prefix) if args.netns_prefix else None
    if netns is not None:
        cluster = ChaosCluster(
            args.root,
            member_address=[netns.member_address(i) for i in range(3)],
            session_address=[netns.session_address(i) for i in range(2)],
            member_prefix=[netns.exec_prefix(netns.member_ns(i)) for i in range(3)],
            probe_address=netns.hub_address(),
        )
    else:
        cluster = ChaosCluster(
            args.root,
            member_address=[f"127.0.0.{71 + i}" for i in range(3)],
            session_address=[f"127.0.0.{81 + i}" for i in range(2)],
            member_prefix=[[] for _ in range(3)],
        )
    status = 0
    try:
        cluster.install()
        _setup_domains(cluster)
        _wait_all_healthy(cluster)
        with args.out.open("a") as out:
            for trial in range(args.trials):
                result = run_trial(cluster, netns, trial, args.seed + trial, args)
                out.write(json.dumps(result) + "\n")
                out.flush()
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        cluster.stop_all()
    return status


if __name__ == "__main__":
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    sys.exit(main())
