"""An answer's head and body leave in one TLS record (issue #16: the heartbeat answer's second write).

uvicorn's httptools protocol writes a response's head and its body separately; over TLS that was two records
(two encryptions, two ``send`` calls) for every JSON answer, route calls and heartbeats included. hostgate's
protocol (runtime/tls_scope.py) holds the writes of one loop step and writes them once. Seen here on the wire: a
real uvicorn server with hostgate's protocol and real TLS; the client reads the raw TCP bytes (TLS 1.2, so no
session tickets arrive as application data after the handshake) and counts the application-data records of one
answer. A streamed answer (one body part per loop step) still arrives whole and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hostgate import pki
from hostgate.runtime.tls_scope import HttpParser, hardened_protocol
from tests.helpers.tls_records import APPLICATION_DATA as _APPLICATION_DATA
from tests.helpers.tls_records import records_of_one_answer
from tests.helpers.uvicorn_serve import serving


async def _json(request: Request) -> Response:
    return JSONResponse({"answer": "x" * 200})


async def _streamed(request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for i in range(5):
            await asyncio.sleep(0)  # a new loop step per part, as a streaming body has
            yield b"part%d;" % i

    return StreamingResponse(parts(), media_type="text/plain")


# uvicorn's httptools protocol, hardened (the management face), and the session face's own (runtime/lean_http.py).
PROTOCOLS = pytest.mark.parametrize("http", ["httptools", "lean"])


@contextlib.asynccontextmanager
async def _server(tmp_path: Path, http: HttpParser) -> AsyncIterator[tuple[int, Path]]:
    ca = pki.create_ca("one-write")
    pair = pki.issue_member_cert(ca, "m1", ["127.0.0.1"])
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "cert.pem").write_bytes(pair.cert_pem)
    (tmp_path / "key.pem").write_bytes(pair.key_pem)
    app = Starlette(routes=[Route("/json", _json), Route("/streamed", _streamed)])
    config = uvicorn.Config(
        app,
        http=hardened_protocol(header_timeout=30.0, max_connections=100, identity={}, http=http),
        ssl_certfile=str(tmp_path / "cert.pem"),
        ssl_keyfile=str(tmp_path / "key.pem"),
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    async with serving(config) as (_, port):
        yield port, tmp_path / "ca.pem"


@PROTOCOLS
async def test_a_json_answer_is_one_tls_record(tmp_path: Path, http: HttpParser) -> None:
    async with _server(tmp_path, http) as (port, ca_file):
        types, plain = await asyncio.to_thread(records_of_one_answer, port, ca_file, "/json")
    assert plain.startswith(b"HTTP/1.1 200 OK\r\n"), plain[:100]
    assert plain.endswith(b'{"answer":"' + b"x" * 200 + b'"}'), plain[-100:]
    # The close_notify alert follows; the answer itself is one application-data record.
    assert types.count(_APPLICATION_DATA) == 1, types


@PROTOCOLS
async def test_a_streamed_answer_still_arrives_whole_and_in_order(tmp_path: Path, http: HttpParser) -> None:
    async with _server(tmp_path, http) as (port, ca_file):
        _, plain = await asyncio.to_thread(records_of_one_answer, port, ca_file, "/streamed")
    head, _, body = plain.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head
    chunks = body.split(b"\r\n")  # chunked transfer encoding: size, data, ... , 0
    assert b"".join(chunks[1::2]) == b"part0;part1;part2;part3;part4;", body
