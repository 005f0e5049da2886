"""The security switch's stored and local forms, and the offline bound's setting (issue #17).

A session-server record or a session server's state file written before the switch existed reads as security
on; a state file with a switch that is not true/false is refused naming the file; ``[session] offline_grace``
defaults to 300 s and refuses values outside 0-86400 (NaN too), naming the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hostgate.config.secrets import SessionSecrets, read_secrets, write_secrets
from hostgate.config.settings import load_settings
from hostgate.errors import ConfigError, InvalidField
from hostgate.management.records import SessionServerRecord
from hostgate.messages import SecuritySwitch, decode_request

OLD_RECORD = {
    "name": "s1",
    "address": "127.0.0.11",
    "port": 9450,
    "advertised_address": "127.0.0.11",
    "advertised_port": 9450,
    "cert_fingerprint": "ab",
    "registered_at": 1.0,
}

SESSION_TOML = """
[server]
member_name = "s1"
address = "127.0.0.11"
roles = ["session"]
[session]
management = "vhi-prod-sea"
"""


def test_a_record_written_before_the_switch_reads_as_security_on() -> None:
    rec = SessionServerRecord.decode("/hostgate/session-servers/s1", json.dumps(OLD_RECORD).encode())
    assert rec.security is True
    off = SessionServerRecord(**{**OLD_RECORD, "security": False})  # type: ignore[arg-type]
    assert SessionServerRecord.decode("k", off.encode()).security is False


def test_the_local_state_keeps_the_switch_and_an_old_file_reads_as_on(tmp_path: Path) -> None:
    path = tmp_path / "session-secrets.json"
    path.write_text(json.dumps({"cluster_id": "c1", "token_keys": []}))
    assert read_secrets(path).security is True
    write_secrets(path, SessionSecrets("c1", (), security=False))
    assert read_secrets(path) == SessionSecrets("c1", (), False)
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text(json.dumps({"cluster_id": "c1", "security": "off"}))
    with pytest.raises(ConfigError, match="security is 'off'") as caught:
        read_secrets(path)
    assert str(path) in caught.value.message


def test_the_switch_request_takes_on_or_off_only() -> None:
    assert decode_request(b'{"security": "off"}', SecuritySwitch).security == "off"
    for bad in (b'{"security": "disabled"}', b'{"security": false}', b"{}", b'{"security": "on", "x": 1}'):
        with pytest.raises(InvalidField):
            decode_request(bad, SecuritySwitch)


def test_offline_grace_defaults_to_300_and_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "hostgate.toml").write_text(SESSION_TOML)
    assert load_settings(tmp_path, env={}).session.offline_grace == 300.0
    assert load_settings(tmp_path, env={"HOSTGATE_SESSION_OFFLINE_GRACE": "0"}).session.offline_grace == 0.0
    for bad in ("-1", "86401", str(math.nan)):
        with pytest.raises(ConfigError, match=r"session\.offline_grace"):
            load_settings(tmp_path, env={"HOSTGATE_SESSION_OFFLINE_GRACE": bad})
