"""``hostgate webservices`` answers through a member's protocol: one TLS record per answer (issue #19).

The standalone process ran uvicorn's own httptools protocol on asyncio's loop: every JSON answer left as two
TLS records (head, then body), and on a loaded machine the client, woken by the head, could take the CPU before
the body was written. It now runs hostgate's hardened protocol (runtime/tls_scope.py) on uvloop, as a member
does. Seen on the wire of a real process: a coded answer (a model it does not publish) is one record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.models import write_model
from tests.helpers.tls_records import APPLICATION_DATA, records_of_one_answer
from tests.helpers.webservices import WsProcess


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[WsProcess]:
    # A published model file: the process needs no cluster to answer (port 9 is never dialled here).
    model = write_model(tmp_path, "demo3270", 9)
    (tmp_path / "ws").mkdir()
    proc = WsProcess(tmp_path / "ws", hosts_file=None, model_files=[model])
    proc.write_plugin_cfg("localhost")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_a_json_answer_of_the_standalone_web_services_is_one_tls_record(ws: WsProcess) -> None:
    types, plain = records_of_one_answer(ws.port, ws.ca_file, "/ws/v1/models/none/openapi.json")
    head, _, body = plain.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), head
    assert json.loads(body)["code"].startswith("HG-"), body
    assert types.count(APPLICATION_DATA) == 1, types


def test_the_web_services_process_runs_in_a_session_of_its_own(ws: WsProcess) -> None:
    """As the lab's members and session servers do: with autogroup scheduling a process in the driver's
    session shares the driver's CPU share, and bench/webservices.py measured REST behind its own client."""
    assert ws.proc is not None
    assert os.getsid(ws.proc.pid) == ws.proc.pid
