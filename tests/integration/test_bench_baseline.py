"""bench/_bare_asgi.py, the baseline of bench/routing.py, starts from a member's data directory on either
server stack and answers the two hot paths (issue #16: it crashed at start, so `make bench` measured nothing).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hostgate.cli.lab import Installation, free_port, installation, poll

pytestmark = [pytest.mark.slow]

BARE = Path(__file__).resolve().parents[2] / "bench" / "_bare_asgi.py"


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("bench")) as inst:
        inst.install_first(store="sqlite")  # its data directory only: the bare app needs no member
        yield inst


@pytest.mark.parametrize("kind", ["starlette", "raw"])
@pytest.mark.parametrize(("http", "loop"), [("httptools", "uvloop"), ("h11", "asyncio")])
def test_the_bare_baseline_serves_from_a_member_data_directory(
    inst: Installation, tmp_path: Path, kind: str, http: str, loop: str
) -> None:
    member = inst.members[0]
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"server": "s1", "token": "t"}))
    port = free_port(member.address)
    env = {**os.environ, "HOSTGATE_SERVER_HTTP": http, "HOSTGATE_SERVER_LOOP": loop}
    cmd = [sys.executable, str(BARE), "--data-dir", str(member.data_dir), "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--kind", kind, "--answer", str(answer)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        ctx = ssl.create_default_context(cafile=str(inst.ca_file))
        url = f"https://{member.address}:{port}"

        def route() -> httpx.Response | None:
            assert proc.poll() is None, proc.communicate()[0]  # before the fix: TypeError at start
            try:
                return httpx.post(f"{url}/api/v1/route", content=b"{}", verify=ctx, timeout=5)
            except httpx.HTTPError:
                return None

        resp = poll("the bare app", route, 60)
        assert resp.status_code == 200 and resp.json() == {"server": "s1", "token": "t"}
        beat = httpx.post(f"{url}/api/v1/session-servers/s1/heartbeat", content=b"{}", verify=ctx)
        assert beat.status_code == 204
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_json_heartbeat_baseline_parses_the_beat_and_answers_its_json(
    inst: Installation, tmp_path: Path
) -> None:
    """``--heartbeat json``: the baseline that does the JSON work of hostgate's heartbeat (bench/routing.py)."""
    member = inst.members[0]
    answer, beat_answer = tmp_path / "answer.json", tmp_path / "beat.json"
    answer.write_text(json.dumps({"server": "s1", "token": "t"}))
    beat_answer.write_text(json.dumps({"token_keys": "v1"}))
    port = free_port(member.address)
    cmd = [sys.executable, str(BARE), "--data-dir", str(member.data_dir), "--port", str(port)]
    cmd += ["--answer", str(answer), "--heartbeat", "json", "--heartbeat-answer", str(beat_answer)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ctx = ssl.create_default_context(cafile=str(inst.ca_file))
        url = f"https://{member.address}:{port}/api/v1/session-servers/s1/heartbeat"

        def beat() -> httpx.Response | None:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                return httpx.post(url, json={"active_sessions": 0}, verify=ctx, timeout=5)
            except httpx.HTTPError:
                return None

        resp = poll("the bare app", beat, 60)
        assert resp.status_code == 200 and resp.json() == {"token_keys": "v1"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_in_process_profile_routes_as_a_granted_user() -> None:
    """bench/profile_api.py routes as a plain user: since grants (issue #17) that user needs the User profile,
    and without one every call was refused and the bench stopped at "the call failed" (bench/routing.py made
    the same calls without the grant: its setup waited for a 200 that never came)."""
    script = BARE.parent / "profile_api.py"
    done = subprocess.run(
        [sys.executable, str(script), "--calls", "20", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hostgate route" in done.stdout and "hostgate heartbeat" in done.stdout, done.stdout


def test_the_bare_apps_run_in_a_session_of_their_own_as_the_member_does(
    inst: Installation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With autogroup scheduling (Linux's default) CPU is shared fairly between sessions: the lab starts the
    member in a session of its own, and bench/routing.py started its bare apps in its own session, beside wrk
    and the heartbeat load, so under others' load the baseline got less CPU than the member and its heartbeats
    timed out (issue #16: every kept-connection round left out at load 15)."""
    spec = importlib.util.spec_from_file_location("bench_routing", BARE.parent / "routing.py")
    assert spec is not None and spec.loader is not None
    routing = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_routing", routing)  # its dataclasses look their module up
    spec.loader.exec_module(routing)
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"server": "s1", "token": "t"}))
    cpus = set(os.sched_getaffinity(0))
    with routing.bare_app(inst.members[0], "starlette", answer, cpus, tmp_path) as target:
        assert os.getsid(target.pid) == target.pid != os.getsid(0)
