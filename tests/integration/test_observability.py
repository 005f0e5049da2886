"""`/metrics` on a real member and session server, JSON logs with request ids, and the SIGTERM drain (real
processes, real TLS, real signals)."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostgate.cli.lab import PYTHON, Member, installation, poll
from tests.helpers.lone_member import lone_member

pytestmark = pytest.mark.slow


def _scrape(url: str, ca: Path, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(
        f"{url}/metrics", headers=headers, verify=ssl.create_default_context(cafile=str(ca)), timeout=30.0
    )


def _value(text: str, sample: str) -> float:
    """The value of one sample line (``name{labels}``) of a scrape; 0 when absent."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _when(text: str, sample: str, at_least: float) -> str | None:
    return text if _value(text, sample) >= at_least else None


def test_metrics_on_a_member_and_a_session_server(tmp_path: Path) -> None:
    with lone_member(tmp_path, heartbeat_interval=0.5) as lab:
        member, session, ca = lab.member, lab.session, lab.inst.ca_file
        member_token = (member.data_dir / "metrics-token").read_text().strip()
        session_token = (session.data_dir / "metrics-token").read_text().strip()
        assert (member.data_dir / "metrics-token").stat().st_mode & 0o777 == 0o600

        # No token, or another server's: refused, coded, no figures.
        for token in (None, "x" * 43, session_token):
            answer = _scrape(member.url, ca, token)
            assert answer.status_code == 401, answer.text
            assert answer.json()["code"] == "HG-7201" and "hostgate_" not in answer.text

        with httpx.Client(
            base_url=member.url, verify=ssl.create_default_context(cafile=str(ca)), timeout=30.0
        ) as api:
            assert api.get("/api/v1/users", auth=("admin", "not-the-password")).status_code == 401
            assert api.get("/api/v1/no/such/thing-42", auth=("admin", lab.inst.password)).status_code == 404
            refused = api.post(
                "/api/v1/route", json={"domain": "nowhere-7", "model": "m"}, auth=("admin", lab.inst.password)
            )
            assert refused.status_code == 404, refused.text

        def member_text() -> str:
            answer = _scrape(member.url, ca, member_token)
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain")
            return answer.text

        # 204: the session server states what it holds and nothing changed (conditional heartbeats, issue #16).
        beat = 'hostgate_http_request_duration_seconds_count{face="management",method="POST",route="/api/v1/session-servers/{name}/heartbeat",status="204"}'
        text = poll("heartbeats counted", lambda: _when(member_text(), beat, 2), 60)
        assert _value(text, 'hostgate_heartbeats_received_total{outcome="accepted"}') >= 2
        assert _value(text, 'hostgate_login_failures_total{checked_by="local account"}') == 1
        assert _value(text, 'hostgate_route_decisions_total{domain="<unknown>",outcome="HG-4102"}') == 1
        assert (
            'route="<unmatched>",status="404"' in text and "thing-42" not in text and "nowhere-7" not in text
        )
        assert _value(text, 'hostgate_store_request_duration_seconds_count{backend="sqlite",kind="read"}') > 0
        assert 'hostgate_info{role="management",server="workhorse01"' in text

        def session_text() -> str:
            answer = _scrape(lab.session_url, ca, session_token)
            assert answer.status_code == 200, answer.text
            return answer.text

        sent = 'hostgate_heartbeats_sent_total{outcome="answered"}'
        text = poll("heartbeats sent", lambda: _when(session_text(), sent, 2), 60)
        assert "# TYPE hostgate_sessions_open gauge" in text
        assert 'hostgate_info{role="session",server="session01"' in text
        assert _scrape(lab.session_url, ca, member_token).status_code == 401


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/stat")
    # A zombie (not yet reaped by init after its parent exited) has stopped running: it counts as gone.
    return status.exists() and status.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_sigterm_drains_a_request_in_flight_and_stops_etcd_cleanly(tmp_path: Path) -> None:
    with installation(tmp_path) as inst:
        member: Member = inst.install_first(store="etcd")
        log_path = tmp_path / "server.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
        # A refused login is answered only after this delay (the guard's faildelay): a request held in flight.
        env.update(HOSTGATE_SECURITY_LOGIN_FAIL_DELAY="3", HOSTGATE_LOG_FILE="")
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [PYTHON, "-m", "hostgate.cli.main", "server", "--data-dir", str(member.data_dir),
                 "--log-format", "json", "--log-level", "info"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip
        try:
            member.proc = proc
            member.wait_healthy()
            etcd_pid = poll("etcd child", lambda: next(iter(_children(proc.pid)), None), 30)
            answers: list[httpx.Response] = []

            def in_flight() -> None:
                answers.append(
                    httpx.get(
                        f"{member.url}/api/v1/users",
                        auth=("admin", "wrong-password"),
                        verify=ssl.create_default_context(cafile=str(inst.ca_file)),
                        timeout=60.0,
                    )
                )

            caller = threading.Thread(target=in_flight)
            caller.start()

            def failed_login() -> dict[str, Any] | None:
                for line in log_path.read_text().splitlines():
                    record = json.loads(line)
                    if record["message"].startswith("failed login for user 'admin'"):
                        return dict(record)
                return None

            record = poll("the failed login logged", failed_login, 30)
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()

            def refused() -> bool:
                try:
                    socket.create_connection((member.address, member.port), timeout=1.0).close()
                except ConnectionRefusedError:
                    return True
                return False

            poll("new connections refused", refused, 10, interval=0.02)
            assert caller.is_alive(), "the request in flight must still be pending when the port closes"
            caller.join(60)
            answered = time.monotonic()
            assert answers and answers[0].status_code == 401, answers
            assert answers[0].json()["code"] == "HG-3001"
            assert answered > signalled
            # The JSON record of the request carries its id, the one the client got.
            assert record["request_id"] == answers[0].headers["x-request-id"]
            assert record["level"] == "WARNING" and record["logger"].startswith("hostgate")
            assert proc.wait(60) == 0
            poll("etcd member stopped", lambda: _gone(etcd_pid), 30)
            etcd_log = (member.data_dir / "logs" / "etcd.log").read_text()
            # etcd's own graceful stop (its signal handler ran, so it was not a SIGKILL).
            assert '"received signal; shutting down","signal":"terminated"' in etcd_log, etcd_log[-2000:]
            # Every line of the server's output is one JSON object (nothing printed around the logger).
            lines = log_path.read_text().splitlines()
            assert lines and all(isinstance(json.loads(line), dict) for line in lines)
            assert any(json.loads(line)["message"].startswith("server workhorse01 stopped") for line in lines)
            assert not (member.data_dir / "logs" / "hostgate.log").exists()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
