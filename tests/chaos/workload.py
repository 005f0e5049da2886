"""Concurrent clients through the alias (``ClusterClient``: hosts file, staggered dialer, hedging included).

Every client runs a bounded loop (at most ``max_ops`` operations and until ``stop_at``) of random operations on
a few registers, recording each invocation and response with monotonic times:

- ``name``: the cluster name. Write: ``PUT /api/v1/cluster/name``. Read: ``GET /api/v1/cluster`` (the
  answering member's in-memory copy).
- ``weights``: domain ``chaos``'s members and weights. Set: ``PUT /api/v1/domains/chaos/servers/S`` answers the
  whole record as of its compare-and-set, so it doubles as a linearizable read of the other weight. Read:
  ``GET /api/v1/domains/chaos`` (in-memory copy).
- ``flag``: does domain ``chaos-flag`` exist. Compare-and-set both ways: create (``HG-1070`` "already
  exists" = the compare failed) and delete (``HG-4102`` = the compare failed). Read: ``GET`` (in-memory copy).
- unique creates (``chaos-u...``): each name created once; the end of the trial must find every acknowledged
  one (and no "already exists" for a name nobody else created).
- routes: ``POST /api/v1/route`` via domain ``chaos`` (connect via domain), for availability.

An answer that proves nothing happened (a compare that failed, a refused request) is recorded as such; no
answer, a timeout or a store timeout (``HG-2002``) may or may not have been applied: output ``UNKNOWN``, return
time infinity (the checker lets it land anywhere after its call, or nowhere).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hostgate.connector.cluster import Answer, ClusterClient
from hostgate.errors import CompareFailed, Conflict, DomainNotFound, HostgateError
from tests.chaos.linearizability import UNKNOWN, Op

__all__ = ["DOMAIN", "FLAG", "ROUTER_CLIENT", "Event", "Recorder", "Route", "run_clients", "weights_of"]

DOMAIN = "chaos"
FLAG = "chaos-flag"
ROUTER_CLIENT = 99
_MIX: dict[str, int] = {
    "name_write": 3,
    "name_read": 1,
    "weight_set": 4,
    "weights_read": 2,
    "flag_create": 2,
    "flag_delete": 2,
    "flag_read": 1,
    "unique_create": 2,
    "route": 1,
}


@dataclass(frozen=True, slots=True)
class Event:
    register: str
    op: Op
    cache_read: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    client: int
    call: float
    ret: float
    ok: bool
    detail: str


@dataclass
class Recorder:
    trial: int
    events: list[Event] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    unique_acked: list[str] = field(default_factory=list)
    unique_refused: list[str] = field(default_factory=list)  # "already exists" for a name only we created
    unique_unknown: list[str] = field(default_factory=list)
    definite_failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    _weights: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_weight(self) -> int:
        return 1 + (next(self._weights) - 1) % 1000

    def error(self, exc: BaseException) -> None:
        code = getattr(exc, "code", None) or type(exc).__name__
        self.errors[code] = self.errors.get(code, 0) + 1


def weights_of(payload: Any) -> frozenset[tuple[str, int]]:
    return frozenset((str(m["server"]), int(m["weight"])) for m in payload["members"])


_AMBIGUOUS = (HostgateError, httpx.HTTPError, OSError, TimeoutError)


async def _call(
    rec: Recorder, op_deadline: float, fn: Callable[[], Awaitable[Answer]]
) -> tuple[float, float, Answer | BaseException]:
    start = time.monotonic()
    try:
        answer: Answer | BaseException = await asyncio.wait_for(fn(), op_deadline)
    except _AMBIGUOUS as exc:
        answer = exc
        rec.error(exc)
    return start, time.monotonic(), answer


def _definitely_not_applied(exc: BaseException) -> bool:
    # CompareFailed: the server's compare-and-set loop gave up, nothing written. Conflict / DomainNotFound
    # are the compare failures of create / delete (handled by the caller where they carry a value).
    return isinstance(exc, CompareFailed)


async def _one(kind: str, cid: int, seq: int, client: ClusterClient, rec: Recorder, deadline: float) -> None:
    tag = f"t{rec.trial}-c{cid}-{seq}"
    if kind == "name_write":
        start, end, res = await _call(
            rec, deadline, lambda: client.request("PUT", "/api/v1/cluster/name", {"name": tag})
        )
        _record_write(rec, "name", cid, ("write", tag), start, end, res)
    elif kind == "weight_set":
        server = f"session0{1 + seq % 2}"
        weight = rec.next_weight()
        path = f"/api/v1/domains/{DOMAIN}/servers/{server}"
        start, end, res = await _call(
            rec, deadline, lambda: client.request("PUT", path, {"weight": weight, "priority": 1})
        )
        inp: tuple[Any, ...] = ("set", server, weight)
        if isinstance(res, Answer):
            rec.events.append(Event("weights", Op(cid, inp, weights_of(res.payload), start, end, res.member)))
        elif _definitely_not_applied(res):
            rec.definite_failures += 1
        else:
            rec.events.append(Event("weights", Op(cid, inp, UNKNOWN, start, math.inf, _why(res))))
    elif kind in ("name_read", "weights_read", "flag_read"):
        path = {
            "name_read": "/api/v1/cluster",
            "weights_read": f"/api/v1/domains/{DOMAIN}",
            "flag_read": f"/api/v1/domains/{FLAG}",
        }[kind]
        start, end, res = await _call(rec, deadline, lambda: client.request("GET", path))
        register = kind.removesuffix("_read")
        if isinstance(res, Answer):
            value: Any = (
                res.payload["name"]
                if register == "name"
                else weights_of(res.payload)
                if register == "weights"
                else True
            )
        elif kind == "flag_read" and isinstance(res, DomainNotFound):
            value = False
        else:
            return  # a read that failed changed nothing and observed nothing
        member = res.member if isinstance(res, Answer) else ""
        rec.events.append(Event(register, Op(cid, ("read",), value, start, end, member), cache_read=True))
    elif kind in ("flag_create", "flag_delete"):
        create = kind == "flag_create"
        method, path, body = (
            ("POST", "/api/v1/domains", {"name": FLAG})
            if create
            else ("DELETE", f"/api/v1/domains/{FLAG}", None)
        )
        start, end, res = await _call(rec, deadline, lambda: client.request(method, path, body))
        inp = ("cas", not create, create)
        refused = Conflict if create else DomainNotFound
        if isinstance(res, Answer):
            rec.events.append(Event("flag", Op(cid, inp, True, start, end, res.member)))
        elif isinstance(res, refused):
            rec.events.append(Event("flag", Op(cid, inp, False, start, end, res.code)))
        elif _definitely_not_applied(res):
            rec.definite_failures += 1
        else:
            rec.events.append(Event("flag", Op(cid, inp, UNKNOWN, start, math.inf, _why(res))))
    elif kind == "unique_create":
        name = f"chaos-u{tag}"
        start, end, res = await _call(
            rec, deadline, lambda: client.request("POST", "/api/v1/domains", {"name": name})
        )
        if isinstance(res, Answer):
            rec.unique_acked.append(name)
        elif isinstance(res, Conflict):
            rec.unique_refused.append(name)
        elif not _definitely_not_applied(res):
            rec.unique_unknown.append(name)
    elif kind == "route":
        start, end, res = await _call(
            rec, deadline, lambda: client.request("POST", "/api/v1/route", {"domain": DOMAIN})
        )
        ok = isinstance(res, Answer)
        rec.routes.append(Route(cid, start, end, ok, res.member if isinstance(res, Answer) else _why(res)))


def _why(exc: BaseException | Answer) -> str:
    if isinstance(exc, HostgateError):
        return exc.code
    return type(exc).__name__


def _record_write(
    rec: Recorder,
    register: str,
    cid: int,
    inp: tuple[Any, ...],
    start: float,
    end: float,
    res: Answer | BaseException,
) -> None:
    if isinstance(res, Answer):
        rec.events.append(Event(register, Op(cid, inp, None, start, end, res.member)))
    elif _definitely_not_applied(res):
        rec.definite_failures += 1
    else:
        rec.events.append(Event(register, Op(cid, inp, UNKNOWN, start, math.inf, _why(res))))


async def _client_loop(
    cid: int,
    rng: random.Random,
    client: ClusterClient,
    rec: Recorder,
    stop_at: float,
    max_ops: int,
    deadline: float,
) -> None:
    kinds = list(_MIX)
    weights = list(_MIX.values())
    for seq in range(max_ops):
        if time.monotonic() >= stop_at:
            return
        kind = rng.choices(kinds, weights)[0]
        await _one(kind, cid, seq, client, rec, deadline)


async def run_clients(
    *,
    target: str,
    ca_file: Path,
    hosts_file: Path,
    password: str,
    recorder: Recorder,
    rng: random.Random,
    clients: int,
    duration: float,
    max_ops: int,
    client_deadline: float = 5.0,
) -> None:
    """Run ``clients`` concurrent bounded loops for at most ``duration`` seconds each."""
    stop_at = time.monotonic() + duration
    tasks = []
    for cid in range(clients):
        client = ClusterClient(
            target,
            ca_file=ca_file,
            user="admin",
            password=password,
            hosts_file=hosts_file,
            system_hosts=hosts_file,  # never the machine's /etc/hosts: the alias is ours alone
            deadline=client_deadline,
        )
        # An operation gets the client's deadline plus slack for the dialer's own bookkeeping.
        loop = _client_loop(
            cid, random.Random(rng.random()), client, recorder, stop_at, max_ops, client_deadline + 2
        )
        tasks.append(asyncio.create_task(loop))
    tasks.append(asyncio.create_task(_router_loop(target, ca_file, hosts_file, password, recorder, stop_at)))
    await asyncio.gather(*tasks)


async def _router_loop(
    target: str, ca_file: Path, hosts_file: Path, password: str, rec: Recorder, stop_at: float
) -> None:
    """Connect via domain about ten times a second (route only), so availability has a steady sample."""
    client = ClusterClient(
        target,
        ca_file=ca_file,
        user="admin",
        password=password,
        hosts_file=hosts_file,
        system_hosts=hosts_file,
        deadline=2.0,
    )
    for seq in range(100_000):
        now = time.monotonic()
        if now >= stop_at:
            return
        await _one("route", ROUTER_CLIENT, seq, client, rec, 3.0)
        # Paces the sampling (not synchronisation): at most one route per 0.1 s.
        await asyncio.sleep(max(0.0, now + 0.1 - time.monotonic()))
