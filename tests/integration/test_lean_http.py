"""The session face's own HTTP/1.1 protocol (runtime/lean_http.py, issue #18) under uvicorn's real server, over real
TLS on loopback, driven with raw bytes: what a client of any make may send.

Keep-alive and pipelining answer in order on one connection; chunked and ``Content-Length`` bodies (beyond the
64 KiB that pause reading) reach the app whole; ``Expect: 100-continue`` is answered when the app asks for the
body; ``HEAD`` gets no body; an answer without a length is chunked (HTTP/1.1) or runs to the close (1.0); an app
that fails before answering gets a coded 500 (logged once), one that writes past its ``Content-Length`` has its
connection closed, a header that would split the answer is refused; malformed bytes get a coded 400 and the close;
an upgrade is answered and the connection closed; an idle connection is closed after the keep-alive timeout, a slow
head after the header timeout (408); a client gone mid-body is ``http.disconnect`` for the app; shutting down lets
the answer in progress finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from hostgate.runtime.tls_scope import hardened_protocol
from tests.helpers.tls import loopback_tls
from tests.helpers.uvicorn_serve import serving

IDENTITY = {"X-Hostgate-Cluster-Id": "c1", "X-Hostgate-Session-Server": "s1"}


@dataclass
class Seen:
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    received: list[dict[str, Any]] = field(default_factory=list)


def _app(seen: Seen) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        seen.requests.append({"path": path, "client": scope["client"], "method": scope["method"]})
        if path == "/boom":
            raise RuntimeError("a bug")
        if path == "/wait-disconnect":
            while True:
                message = await receive()
                seen.received.append(message)
                if message["type"] == "http.disconnect":
                    return
        if (
            path == "/refuse"
        ):  # refused before the body is read, as the faces refuse an unauthenticated request
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/slow":
            await seen.release.wait()
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if path == "/bad-header":
            headers = [(b"x-evil", b"a\r\nset-cookie: x=1")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            return
        if path == "/no-content":  # a body the status forbids (RFC 9110 §15.3.5): not written
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b"stray"})
            return
        if path == "/too-long":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"12345"})
            return
        answer = json.dumps(
            {"path": path, "length": len(body), "query": scope["query_string"].decode()}
        ).encode()
        headers = [(b"content-type", b"application/json")]
        if path != "/unsized":
            headers.append((b"content-length", b"%d" % len(answer)))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if path == "/unsized":
            await send({"type": "http.response.body", "body": answer[:5], "more_body": True})
            answer = answer[5:]
        await send({"type": "http.response.body", "body": answer})

    return app


@dataclass
class Served:
    port: int
    ca_file: Path
    seen: Seen
    server: uvicorn.Server

    def tls(self) -> ssl.SSLSocket:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        return context.wrap_socket(raw, server_hostname="127.0.0.1")


@contextlib.asynccontextmanager
async def _served(
    tmp_path: Path, *, keep_alive: int = 15, header_timeout: float = 30.0
) -> AsyncIterator[Served]:
    tls = loopback_tls(tmp_path)
    seen = Seen()
    config = uvicorn.Config(
        _app(seen),
        http=hardened_protocol(
            header_timeout=header_timeout, max_connections=100, identity=IDENTITY, http="lean"
        ),
        ssl_certfile=str(tmp_path / "cert.pem"),
        ssl_keyfile=str(tmp_path / "key.pem"),
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=30,
    )
    async with serving(config) as (server, port):
        try:
            yield Served(port, tls.ca_file, seen, server)
        finally:
            seen.release.set()  # a request left waiting finishes, so the server's shutdown does not wait on it


def _read_answers(conn: ssl.SSLSocket, count: int, *, head_only: bool = False) -> list[tuple[bytes, bytes]]:
    """``count`` answers (head, body) read off ``conn``: Content-Length, chunked, or to the close (``head_only``:
    answers to HEAD, which have none)."""
    buf = b""
    answers: list[tuple[bytes, bytes]] = []

    def more() -> bool:
        nonlocal buf
        data = conn.recv(65536)
        buf += data
        return bool(data)

    while len(answers) < count:
        while b"\r\n\r\n" not in buf:
            if not more():
                raise AssertionError(f"closed before an answer: {buf!r}")
        head, _, buf = buf.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 100"):
            answers.append((head, b""))
            continue
        lines = head.lower().split(b"\r\n")
        length = next((int(x.split(b":")[1]) for x in lines if x.startswith(b"content-length:")), None)
        chunked = any(x.startswith(b"transfer-encoding:") and b"chunked" in x for x in lines)
        if b" 204 " in lines[0] or head_only:
            length, chunked = 0, False
        if chunked:
            body = b""
            while True:
                while b"\r\n" not in buf:
                    assert more(), "closed inside a chunked answer"
                size_line, _, buf = buf.partition(b"\r\n")
                size = int(size_line, 16)
                while len(buf) < size + 2:
                    assert more(), "closed inside a chunk"
                body, buf = body + buf[:size], buf[size + 2 :]
                if size == 0:
                    break
        elif length is not None:
            while len(buf) < length:
                assert more(), "closed inside an answer"
            body, buf = buf[:length], buf[length:]
        else:
            while more():
                pass
            body, buf = buf, b""
        answers.append((head, body))
    return answers


def _closed(conn: ssl.SSLSocket) -> bool:
    """The server ended the connection (nothing more than a TLS close)."""
    try:
        return conn.recv(65536) == b""
    except (ConnectionError, ssl.SSLError):
        return True


def _request(method: str, target: str, body: bytes = b"", extra: bytes = b"") -> bytes:
    return b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s" % (
        method.encode(),
        target.encode(),
        len(body),
        extra,
        body,
    )


async def test_keep_alive_and_pipelined_requests_are_answered_in_order_on_one_connection(
    tmp_path: Path,
) -> None:
    async with _served(tmp_path) as s:

        def client() -> list[tuple[bytes, bytes]]:
            with s.tls() as conn:
                conn.sendall(_request("GET", "/one?a=1"))
                first = _read_answers(conn, 1)
                conn.sendall(
                    _request("POST", "/two", b"abc") + _request("GET", "/three") + _request("GET", "/four")
                )
                return first + _read_answers(conn, 3)

        answers = await asyncio.to_thread(client)
    paths = [json.loads(body)["path"] for _, body in answers]
    assert paths == ["/one", "/two", "/three", "/four"]
    assert json.loads(answers[0][1])["query"] == "a=1" and json.loads(answers[1][1])["length"] == 3
    assert len({r["client"] for r in s.seen.requests}) == 1, "every request came on the one connection"
    assert all(b"date:" in head.lower() for head, _ in answers)


async def test_chunked_and_large_bodies_reach_the_app_whole_and_100_continue_is_sent(tmp_path: Path) -> None:
    big = b"x" * 300_000  # past the 64 KiB that pause reading until the app takes the body
    async with _served(tmp_path) as s:

        def client() -> list[tuple[bytes, bytes]]:
            with s.tls() as conn:
                chunked = b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                chunked += b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: t\r\n\r\n"
                conn.sendall(chunked)
                answers = _read_answers(conn, 1)
                conn.sendall(_request("PUT", "/big", big))
                answers += _read_answers(conn, 1)
                conn.sendall(_request("POST", "/expect", extra=b"Expect: 100-continue\r\n"))
                answers += _read_answers(conn, 2)
                return answers

        answers = await asyncio.to_thread(client)
    assert json.loads(answers[0][1])["length"] == 9
    assert json.loads(answers[1][1])["length"] == len(big)
    assert answers[2][0].startswith(b"HTTP/1.1 100 Continue"), answers[2]
    assert json.loads(answers[3][1])["path"] == "/expect"


async def test_head_unsized_and_http_1_0_answers_are_framed_right(tmp_path: Path) -> None:
    async with _served(tmp_path) as s:

        def client() -> tuple[list[tuple[bytes, bytes]], bytes, bool]:
            with s.tls() as conn:
                conn.sendall(_request("HEAD", "/x"))
                answers = _read_answers(conn, 1, head_only=True)
                conn.sendall(_request("GET", "/unsized"))
                answers += _read_answers(conn, 1)
                conn.sendall(_request("GET", "/no-content") + _request("GET", "/after"))
                answers += _read_answers(conn, 2)
            with s.tls() as old:
                old.sendall(b"GET /unsized HTTP/1.0\r\nHost: x\r\n\r\n")
                whole = b""
                while data := old.recv(65536):
                    whole += data
            return answers, whole, True

        answers, whole, _ = await asyncio.to_thread(client)
    head, body = answers[0]
    assert b"content-length:" in head.lower() and body == b"", "HEAD: the length, no body"
    head, body = answers[1]
    assert b"transfer-encoding: chunked" in head.lower() and json.loads(body)["path"] == "/unsized"
    assert answers[2][0].startswith(b"HTTP/1.1 204") and answers[2][1] == b""
    assert answers[3][0].startswith(b"HTTP/1.1 200"), "the 204's stray body did not shift the next answer"
    head, _, body = whole.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower() and b"chunked" not in head.lower()
    assert json.loads(body)["path"] == "/unsized", "HTTP/1.0: the body runs to the close"


async def test_an_app_failure_is_a_coded_500_logged_once_and_a_bad_answer_ends_the_connection(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="hostgate.http")
    async with _served(tmp_path) as s:

        def client() -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]], bytes]:
            with s.tls() as conn:
                conn.sendall(_request("GET", "/boom"))
                boom = _read_answers(conn, 1)
                assert _closed(conn)
            with s.tls() as conn:
                conn.sendall(_request("GET", "/bad-header"))
                bad = _read_answers(conn, 1)
            with s.tls() as conn:
                conn.sendall(_request("GET", "/too-long"))
                rest = b""
                while data := conn.recv(65536):
                    rest += data
            return boom, bad, rest

        boom, bad, rest = await asyncio.to_thread(client)
    for head, body in (boom[0], bad[0]):
        assert head.startswith(b"HTTP/1.1 500"), head
        assert b"x-hostgate-cluster-id: c1" in head.lower()
        assert json.loads(body)["code"] == "HG-1000"
    assert b"set-cookie" not in bad[0][0].lower(), (
        "a header that would split the answer never reaches the wire"
    )
    # The head goes out with the first body message: a body past its length ends the connection before either.
    assert rest == b"", rest
    failures = [r for r in caplog.records if r.name == "hostgate.http" and "/boom" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None


@pytest.mark.parametrize(
    "garbage",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-Filler: %s\r\n" % (b"y" * 8000) * 10 + b"\r\n",
    ],
    ids=["request-line", "header-without-colon", "non-ascii-path", "head-over-64-KiB"],
)
async def test_malformed_bytes_get_a_coded_400_and_the_close(tmp_path: Path, garbage: bytes) -> None:
    async with _served(tmp_path) as s:

        def client() -> bytes:
            with s.tls() as conn:
                conn.sendall(garbage)
                whole = b""
                while data := conn.recv(65536):
                    whole += data
                return whole

        whole = await asyncio.to_thread(client)
    head, _, body = whole.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), whole
    assert json.loads(body)["code"] == "HG-1032"
    assert s.seen.requests == [], "nothing reached the app"


async def test_a_refusal_before_an_expected_body_closes_the_connection(tmp_path: Path) -> None:
    """Expect: 100-continue answered with a final status first: whether the body follows is the client's choice,
    so the connection ends after the answer instead of reading the next request out of step."""
    async with _served(tmp_path) as s:

        def client() -> tuple[list[tuple[bytes, bytes]], bool]:
            with s.tls() as conn:
                conn.sendall(
                    b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"
                )
                return _read_answers(conn, 1), _closed(conn)

        answers, closed = await asyncio.to_thread(client)
    head, _ = answers[0]
    assert head.startswith(b"HTTP/1.1 401") and b"connection: close" in head.lower() and closed, head
    assert b"100 continue" not in head.lower()


async def test_an_upgrade_is_served_plain_and_the_connection_closed(tmp_path: Path) -> None:
    async with _served(tmp_path) as s:

        def client() -> tuple[list[tuple[bytes, bytes]], bool]:
            with s.tls() as conn:
                conn.sendall(_request("GET", "/up", extra=b"Connection: Upgrade\r\nUpgrade: h2c\r\n"))
                return _read_answers(conn, 1), _closed(conn)

        answers, closed = await asyncio.to_thread(client)
    assert json.loads(answers[0][1])["path"] == "/up" and closed


async def test_idle_and_slow_connections_are_closed_on_time(tmp_path: Path) -> None:
    async with _served(tmp_path, keep_alive=1, header_timeout=0.5) as s:

        def client() -> tuple[bool, bytes]:
            with s.tls() as conn:
                conn.sendall(_request("GET", "/one"))
                _read_answers(conn, 1)
                conn.settimeout(30)
                idle_closed = _closed(conn)  # blocks until the keep-alive timeout ends it
            with s.tls() as slow:
                slow.sendall(b"GET /slow-head HTTP/1.1\r\nHost:")
                whole = b""
                while data := slow.recv(65536):
                    whole += data
            return idle_closed, whole

        idle_closed, whole = await asyncio.to_thread(client)
    assert idle_closed
    head, _, body = whole.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and json.loads(body)["code"] == "HG-1031", whole


async def test_a_client_gone_mid_body_is_a_disconnect_for_the_app(tmp_path: Path) -> None:
    async with _served(tmp_path) as s:

        def client() -> None:
            with s.tls() as conn:
                conn.sendall(b"POST /wait-disconnect HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
                deadline = time.monotonic() + 30
                while not s.seen.received and time.monotonic() < deadline:
                    time.sleep(0.01)

        await asyncio.to_thread(client)
        for _ in range(3000):
            if s.seen.received and s.seen.received[-1]["type"] == "http.disconnect":
                break
            await asyncio.sleep(0.01)
    assert s.seen.received[0] == {"type": "http.request", "body": b"abc", "more_body": True}
    assert s.seen.received[-1] == {"type": "http.disconnect"}


async def test_shutdown_lets_the_answer_in_progress_finish(tmp_path: Path) -> None:
    async with _served(tmp_path) as s:

        def client() -> tuple[list[tuple[bytes, bytes]], bool]:
            with s.tls() as conn:
                conn.sendall(_request("GET", "/slow"))
                deadline = time.monotonic() + 30
                while not s.seen.requests and time.monotonic() < deadline:
                    time.sleep(0.01)
                s.server.should_exit = True  # the server begins its shutdown with the request in progress
                loop.call_soon_threadsafe(s.seen.release.set)
                return _read_answers(conn, 1), _closed(conn)

        loop = asyncio.get_running_loop()
        answers, closed = await asyncio.to_thread(client)
    head, body = answers[0]
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["path"] == "/slow"
    assert b"connection: close" in head.lower() or closed
