"""Least privilege per role (issue #15, findings 1 and 2), with real members, real etcd and real TLS.

Given 2 management members (etcd) and 2 session servers installed through the CLI on 127.0.0.x:

- a session server's certificate and key are refused by etcd's client port and peer port, while a member's etcd
  certificate works on both (finding 1: a session server used to be root on etcd);
- nothing a session server holds can mint a token another session server accepts, and heartbeats are
  authenticated by the server's own certificate, so one server cannot speak for another and a removed
  server's identity stops working at once (finding 2);
- ``hostgate cluster rotate-keys``: new tokens carry the new key, old ones stay valid, session servers fetch
  the new public key with their heartbeats.

The attacks are written against the files a session server's data directory holds, whatever their version,
so they run unchanged against the code before the fix (where they succeed).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from hostgate.cli.lab import Installation, Member, installation, poll, start_cluster

pytestmark = [
    pytest.mark.slow,
    pytest.mark.etcd,
    pytest.mark.skipif(
        shutil.which("etcd") is None or shutil.which("etcdctl") is None,
        reason="needs Debian etcd-server and etcd-client (make test installs them)",
    ),
]

INTERVAL = 0.5


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("trust")) as inst:
        start_cluster(inst, 2)
        inst.write_hosts_file()
        inst.add_session_server(1, interval=INTERVAL)
        inst.add_session_server(2, interval=INTERVAL)
        yield inst


def _etcdctl(member: Member, cert: Path, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """etcdctl against ``member``'s client port, presenting ``cert``/``key``. The server's certificate is not
    checked (an attacker would not either): only whether etcd accepts the client certificate matters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    env["ETCDCTL_API"] = "3"
    return subprocess.run(
        [
            "etcdctl",
            f"--endpoints=https://{member.address}:{member.etcd_client_port}",
            f"--cert={cert}",
            f"--key={key}",
            "--insecure-skip-tls-verify",
            "--dial-timeout=5s",
            "--command-timeout=10s",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _peer_get(member: Member, cert: Path, key: Path) -> bytes:
    """``GET /version`` on ``member``'s etcd peer port over TLS with ``cert``/``key`` as client certificate;
    what came back (b"" or an SSL error's text when etcd refused the certificate)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    try:
        with (
            socket.create_connection((member.address, member.etcd_peer_port), timeout=10) as raw,
            ctx.wrap_socket(raw) as tls,
        ):
            # Under TLS 1.3 the server checks the client certificate after the client's handshake is done: the
            # refusal arrives as an alert on the first read.
            tls.sendall(b"GET /version HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n")
            chunks = []
            while chunk := tls.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
    except (ssl.SSLError, ConnectionResetError) as exc:
        return f"refused: {exc}".encode()


def test_session_server_certificate_is_refused_by_both_etcd_ports(lab: Installation) -> None:
    member = lab.members[0]
    session = lab.session_servers[0].data_dir
    s_cert, s_key = session / "member.pem", session / "member-key.pem"

    listed = _etcdctl(member, s_cert, s_key, "get", "--prefix", "/hostgate/", "--keys-only")
    assert listed.returncode != 0 and "/hostgate/" not in listed.stdout, (
        f"a session server's certificate read the store:\n{listed.stdout[:2000]}"
    )
    wrote = _etcdctl(member, s_cert, s_key, "put", "/hostgate/users/intruder", "{}")
    assert wrote.returncode != 0, "a session server's certificate wrote to the store"
    peer = _peer_get(member, s_cert, s_key)
    assert not peer.startswith(b"HTTP/"), f"etcd's peer port answered a session server: {peer[:300]!r}"

    # A member's etcd certificate works on both ports (and the intruder record was never written).
    m_cert, m_key = member.data_dir / "etcd.pem", member.data_dir / "etcd-key.pem"
    ok = _etcdctl(member, m_cert, m_key, "get", "--prefix", "/hostgate/", "--keys-only")
    assert ok.returncode == 0, ok.stderr
    assert "/hostgate/cluster/info" in ok.stdout and "/hostgate/users/intruder" not in ok.stdout
    assert _peer_get(member, m_cert, m_key).startswith(b"HTTP/1.1 200")
    # The member's API certificate (cluster CA, which also signs session servers) is no etcd identity either.
    api_cert = _etcdctl(
        member, member.data_dir / "member.pem", member.data_dir / "member-key.pem", "get", "x"
    )
    assert api_cert.returncode != 0


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _candidate_keys(data_dir: Path) -> list[bytes]:
    """Everything in a session server's data directory that could serve as a signing secret: each string of
    session-secrets.json as it is and base64-decoded, and the server's own TLS private key."""
    secrets = json.loads((data_dir / "session-secrets.json").read_text())
    found: list[bytes] = []
    for text in _strings(secrets):
        found.append(text.encode())
        with contextlib.suppress(ValueError):
            found.append(base64.b64decode(text, validate=True))
    found.append((data_dir / "member-key.pem").read_bytes())
    return [k for k in found if k]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], key: bytes, headers: dict[str, str]) -> str:
    """An HS256 JWT keyed with any bytes, PEM included (PyJWT refuses to build that, an attacker does not)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT", **headers}).encode())
    body = _b64url(json.dumps(claims).encode())
    signature = hmac.digest(key, f"{header}.{body}".encode(), "sha256")
    return f"{header}.{body}.{_b64url(signature)}"


def _forgeries(data_dir: Path, claims: dict[str, Any]) -> Iterator[str]:
    """Tokens for ``claims`` signed with anything the session server holds, under every algorithm it fits
    (HS256 with any bytes: algorithm confusion with a public key included; ES256 with its EC key)."""
    secrets = json.loads((data_dir / "session-secrets.json").read_text())
    kids = [k.get("kid", "") for k in secrets.get("token_keys", [])] or [""]
    for key in _candidate_keys(data_dir):
        for kid in kids:
            headers = {"kid": kid} if kid else None
            yield _hs256(claims, key, headers or {})
            if b"PRIVATE KEY" in key:
                yield jwt.encode(claims, key, algorithm="ES256", headers=headers)


def _session_url(server: Member) -> str:
    return f"https://{server.address}:{server.port}"


def _open(inst: Installation, server: Member, token: str) -> httpx.Response:
    """Open a session on a model that does not exist: a token the server accepts gets HG-6108 (no such
    model), a refused one HG-3852 / HG-3001."""
    return httpx.post(
        f"{_session_url(server)}/api/v1/sessions",
        json={"model": "no-such-model"},
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(inst.ca_file)),
        timeout=10,
    )


def _cluster_id(inst: Installation) -> str:
    return str(inst.status()["id"])


def test_nothing_a_session_server_holds_mints_a_token_another_accepts(lab: Installation) -> None:
    s1, s2 = lab.session_servers
    now = int(time.time())
    claims = {
        "typ": "session",
        "cid": _cluster_id(lab),
        "srv": s2.name,
        "sub": "intruder",
        "mdl": "",
        "dom": "",
        "jti": "forged",
        "iat": now,
        "exp": now + 600,
    }
    forged = list(_forgeries(s1.data_dir, claims))
    assert forged
    for token in forged:
        resp = _open(lab, s2, token)
        assert resp.status_code in (401, 403), f"{s2.name} accepted a token forged by {s1.name}: {resp.text}"
        assert resp.json()["code"] in ("HG-3852", "HG-3001")
    text = (s1.data_dir / "session-secrets.json").read_text()
    assert "PRIVATE" not in text and "signing_key" not in text


def _admin(inst: Installation) -> dict[str, str]:
    auth = base64.b64encode(f"admin:{inst.password}".encode()).decode()
    return {"Authorization": f"Basic {auth}"}


def _beat(inst: Installation, name: str, client: Member | None, bearer: str | None = None) -> httpx.Response:
    """A heartbeat for session server ``name`` sent to member 1, with ``client``'s certificate (or none)."""
    ctx = ssl.create_default_context(cafile=str(inst.ca_file))
    if client is not None:
        ctx.load_cert_chain(client.data_dir / "member.pem", client.data_dir / "member-key.pem")
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    member = inst.members[0]
    return httpx.post(
        f"{member.url}/api/v1/session-servers/{name}/heartbeat",
        json={"active_sessions": 0, "capacity": 1000, "interval": 30},
        headers=headers,
        verify=ctx,
        timeout=10,
    )


def test_heartbeats_are_authenticated_by_the_servers_own_certificate(lab: Installation) -> None:
    s1, s2 = lab.session_servers
    now = int(time.time())
    server_claims = {"typ": "server", "cid": _cluster_id(lab), "srv": s2.name, "sub": "", "iat": now}
    # session01 speaks for session02 with its own certificate and every token it could forge.
    for token in [None, *_forgeries(s1.data_dir, server_claims)]:
        resp = _beat(lab, s2.name, s1, token)
        assert resp.status_code in (401, 403), f"{s1.name} heartbeated for {s2.name}: {resp.status_code}"
        assert resp.json()["code"] in ("HG-3030", "HG-3001", "HG-3852")
    refused = _beat(lab, s2.name, s1)
    assert refused.json()["code"] == "HG-3030"
    anonymous = _beat(lab, s2.name, None)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "HG-3001"
    own = _beat(lab, s2.name, s2)
    assert own.status_code == 200, own.text


def test_rotate_keys_new_tokens_new_key_old_tokens_still_good(lab: Installation) -> None:
    _, s2 = lab.session_servers
    member = lab.members[0]
    ctx = ssl.create_default_context(cafile=str(lab.ca_file))

    def token() -> str:
        resp = httpx.post(
            f"{member.url}/api/v1/tokens",
            json={"server": s2.name},
            headers=_admin(lab),
            verify=ctx,
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return str(resp.json()["token"])

    old = token()
    assert _open(lab, s2, old).json()["code"] == "HG-6108"
    out = lab.hostgate("cluster", "rotate-keys", "--json", *lab.client_args()).stdout
    keys = json.loads(out)["keys"]
    assert len(keys) == 2 and keys[0]["accept_until"] == 0 and keys[1]["accept_until"] > time.time()
    new = token()
    assert jwt.get_unverified_header(new)["kid"] == keys[0]["kid"] != jwt.get_unverified_header(old)["kid"]
    # The session server fetches the new public key with its next heartbeat; no private key reaches it.
    poll(
        "session02 to accept a token of the new key", lambda: _open(lab, s2, new).json()["code"] == "HG-6108"
    )
    assert _open(lab, s2, old).json()["code"] == "HG-6108"
    held = json.loads((s2.data_dir / "session-secrets.json").read_text())
    assert {k["kid"] for k in held["token_keys"]} == {k["kid"] for k in keys}
    # Another member signs with the new key too (one key set in the store).
    other = lab.members[1]
    resp = httpx.post(
        f"{other.url}/api/v1/tokens", json={"server": s2.name}, headers=_admin(lab), verify=ctx, timeout=10
    )
    assert jwt.get_unverified_header(resp.json()["token"])["kid"] == keys[0]["kid"]


def test_a_removed_session_server_is_refused_at_once(lab: Installation) -> None:
    s1 = lab.session_servers[0]
    assert _beat(lab, s1.name, s1).status_code == 200
    member = lab.members[0]
    resp = httpx.delete(
        f"{member.url}/api/v1/session-servers/{s1.name}",
        headers=_admin(lab),
        verify=ssl.create_default_context(cafile=str(lab.ca_file)),
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    # The member that removed it refuses it at once; the other as soon as its copy of the store has the change.
    assert _beat_to(lab, member, s1).json()["code"] == "HG-4103"
    other = lab.members[1]
    poll(f"{other.name} to refuse {s1.name}", lambda: _beat_to(lab, other, s1).status_code == 404, 10)
    keys = httpx.get(f"{member.url}/api/v1/token-keys", verify=_client_ctx(lab, s1), timeout=10)
    assert keys.status_code == 401


def _client_ctx(inst: Installation, client: Member) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(inst.ca_file))
    ctx.load_cert_chain(client.data_dir / "member.pem", client.data_dir / "member-key.pem")
    return ctx


def _beat_to(inst: Installation, member: Member, client: Member) -> httpx.Response:
    return httpx.post(
        f"{member.url}/api/v1/session-servers/{client.name}/heartbeat",
        json={"active_sessions": 0, "capacity": 1, "interval": 1},
        verify=_client_ctx(inst, client),
        timeout=10,
    )


def test_a_data_directory_of_the_earlier_version_is_refused_with_a_code(tmp_path: Path) -> None:
    with installation(tmp_path) as inst:
        first = inst.install_first(store="etcd")
        for name in ("etcd-ca.pem", "etcd.pem", "etcd-key.pem"):
            (first.data_dir / name).unlink(missing_ok=True)
        run = inst.hostgate("server", "--data-dir", str(first.data_dir), check=False, timeout=60)
    assert run.returncode != 0
    assert "HG-4030" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
