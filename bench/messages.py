"""Typed messages: decode + validate + encode of the real hot messages, msgspec vs pydantic vs stdlib.

The messages are those of the hot paths: the route request and its answer (every connect via a domain), the
heartbeat and its answer (1,000 session servers, every member), a session open and a records answer (the
session path). Each library does the same work per message: bytes -> checked typed value (unknown fields and
wrong types refused), and the answer value -> bytes. The baseline is what hostgate did before typed messages:
stdlib ``json`` + hand ``isinstance`` checks + frozen dataclasses. pydantic is imported only here (it is not a
hostgate dependency: it lost this measurement).

    .venv/bin/python bench/messages.py          # needs pydantic installed to print its column
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from hostgate.messages import (
    Cell,
    HeartbeatAnswer,
    HeartbeatReport,
    OpenSession,
    Records,
    RouteAnswer,
    RouteRequest,
    decode_answer,
    decode_request,
    encode,
)

ROUTE = json.dumps({"domain": "prod", "model": "orders", "exclude": ["s1"], "unreachable": ["s1"]}).encode()
BEAT = json.dumps({"active_sessions": 17, "capacity": 100, "interval": 2.0}).encode()
OPEN = json.dumps({"model": "orders", "variables": {"user": "u1", "password": "p", "branch": 7}}).encode()
ANSWER = RouteAnswer("session01", "https://127.0.0.1:9450", "127.0.0.1", 9450, "t" * 300, 1.8e9)
ROWS = tuple(
    {"number": f"{i:05d}", "name": f"CUSTOMER {i:02d}", "balance": Decimal(f"{i}.25"), "city": "CITY1"}
    for i in range(20)
)
RECORDS_WIRE = encode(Records[object](("number", "name", "balance", "city"), ROWS))


# -- msgspec (hostgate.messages) ----------------------------------------------------------------------------
def msgspec_route() -> bytes:
    decode_request(ROUTE, RouteRequest)
    return encode(ANSWER)


def msgspec_beat() -> bytes:
    decode_request(BEAT, HeartbeatReport)
    return encode(HeartbeatAnswer("abc123"))


def msgspec_session() -> bytes:
    decode_request(OPEN, OpenSession)
    out = encode(Records[object](("number", "name", "balance", "city"), ROWS))
    decode_answer(out, Records[Cell], "bench")  # the connector's side
    return out


# -- stdlib json + hand checks + dataclasses (before typed messages) ----------------------------------------
@dataclass(frozen=True, slots=True)
class _DRoute:
    server: str
    url: str
    address: str
    port: int
    token: str
    expires_at: float


D_ANSWER = _DRoute("session01", "https://127.0.0.1:9450", "127.0.0.1", 9450, "t" * 300, 1.8e9)


def _fields(raw: bytes, fields: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("not an object")
    for name, typ in fields.items():
        if not isinstance(body.get(name), typ) or isinstance(body.get(name), bool):
            raise ValueError(name)
    return body


def stdlib_route() -> bytes:
    body = _fields(ROUTE, {"domain": str, "model": str, "exclude": list, "unreachable": list})
    assert all(isinstance(x, str) for x in body["exclude"] + body["unreachable"])
    return json.dumps(asdict(D_ANSWER)).encode()


def stdlib_beat() -> bytes:
    _fields(BEAT, {"active_sessions": int, "capacity": int, "interval": float | int})
    return json.dumps({"token_keys": "abc123"}).encode()


def stdlib_session() -> bytes:
    body = _fields(OPEN, {"model": str, "variables": dict})
    assert all(isinstance(v, str | int | float | None) for v in body["variables"].values())
    rows = [{k: str(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in ROWS]
    out = json.dumps({"columns": ["number", "name", "balance", "city"], "records": rows}).encode()
    back = json.loads(out)
    (tuple(back["columns"]), tuple(back["records"]))
    return out


# -- pydantic v2 (same checks: strict types, unknown fields forbidden) ---------------------------------------
def pydantic_cases() -> dict[str, Callable[[], bytes]] | None:
    try:
        from pydantic import BaseModel, ConfigDict, Field
    except ImportError:
        return None

    class In(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    class Out(BaseModel):
        model_config = ConfigDict(frozen=True)

    class PRouteRequest(In):
        domain: str
        model: str = ""
        exclude: tuple[str, ...] = ()
        unreachable: tuple[str, ...] = ()

    class PRouteAnswer(Out):
        server: str
        url: str
        address: str
        port: int
        token: str
        expires_at: float

    class PBeat(In):
        active_sessions: int
        capacity: int
        interval: float

    class PBeatAnswer(Out):
        token_keys: str

    class POpen(In):
        model: str = ""
        variables: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    class PRecords(Out):
        columns: tuple[str, ...]
        records: tuple[dict[str, str | int | float | bool | None], ...]

    p_answer = PRouteAnswer(**asdict(D_ANSWER))
    wire_rows = tuple({k: str(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in ROWS)

    def route() -> bytes:
        PRouteRequest.model_validate_json(ROUTE)
        return p_answer.model_dump_json().encode()

    def beat() -> bytes:
        PBeat.model_validate_json(BEAT)
        return PBeatAnswer(token_keys="abc123").model_dump_json().encode()

    def session() -> bytes:
        POpen.model_validate_json(OPEN)
        out = PRecords(columns=("number", "name", "balance", "city"), records=wire_rows).model_dump_json()
        PRecords.model_validate_json(out)
        return out.encode()

    return {"route": route, "heartbeat": beat, "session": session}


def rate(call: Callable[[], bytes], seconds: float = 0.6) -> float:
    """Calls per second (best of three runs: the machine is shared and loaded)."""
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(200):
                call()
            n += 200
        best = max(best, n / elapsed)
    return best


def import_ms(module: str) -> float:
    import subprocess

    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout) * 1000


def main() -> None:
    assert json.loads(msgspec_route()) == json.loads(stdlib_route())
    assert json.loads(msgspec_session()) == json.loads(stdlib_session())
    cases: dict[str, dict[str, Callable[[], bytes]]] = {
        "msgspec": {"route": msgspec_route, "heartbeat": msgspec_beat, "session": msgspec_session},
        "stdlib": {"route": stdlib_route, "heartbeat": stdlib_beat, "session": stdlib_session},
    }
    pyd = pydantic_cases()
    if pyd is not None:
        cases["pydantic"] = pyd
    print("decode + validate + encode, calls/s (best of 3); x = msgspec / other")
    print(
        f"{'message':<10} {'msgspec':>10} {'pydantic':>10} {'stdlib':>10} {'x pydantic':>11} {'x stdlib':>9}"
    )
    for name in ("route", "heartbeat", "session"):
        figures = {lib: rate(c[name]) for lib, c in cases.items()}
        p = figures.get("pydantic")
        print(
            f"{name:<10} {figures['msgspec']:>10,.0f} {p if p is not None else float('nan'):>10,.0f} "
            f"{figures['stdlib']:>10,.0f} {figures['msgspec'] / p if p else float('nan'):>10.1f}x "
            f"{figures['msgspec'] / figures['stdlib']:>8.1f}x"
        )
    print(f"import time, ms: msgspec {import_ms('msgspec'):.1f}", end="")
    print(f", pydantic {import_ms('pydantic'):.1f}" if pyd is not None else "", end="")
    print(f", hostgate.messages {import_ms('hostgate.messages'):.1f}")


if __name__ == "__main__":
    main()
