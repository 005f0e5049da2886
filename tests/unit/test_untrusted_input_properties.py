"""Property tests (issue #15): untrusted input only ever raises a coded HostgateError, never anything else.

The model loader (YAML text), the config loader (hostgate.toml bytes, parsed tables, HOSTGATE_* values) and the
token verifier (any string; and tokens correctly signed around any payload). The hosts-file parser has its own
properties in tests/naming/test_hosts_file_properties.py. Examples are bounded so the suite stays fast.
"""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hostgate import tokens
from hostgate.config.settings import CONFIG_FILE, load_settings, settings_from_mapping
from hostgate.errors import ConfigError, HostgateError
from hostgate.models import load_model

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
)
documents: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=10), inner, max_size=4),
    ),
    max_leaves=30,
)
YAML_BITS = [
    "name: m\n", "format_version: 1\n", "host:\n  type: tn3270\n", "entities:\n", "  - name: A\n",
    "<<: *a\n", "&a ", "*a", "[", "]", "{", "}", "- ", ": ", "!!python/object:os.system ", "? ", "|\n",
    "2001-13-45", "0x", "1e999", "\t", "\n", "'", '"', "%YAML 1.1\n", "---\n", "...\n", "!!binary xx",
]  # fmt: skip
yaml_texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(YAML_BITS), max_size=40).map("".join),
)


def _only_coded(call: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(HostgateError):
        call(*args, **kwargs)


@FAST
@given(yaml_texts)
@example("created: 2001-13-45\n")  # the safe loader's timestamp constructor raised ValueError
@example("a: " + "[" * 5000 + "]" * 5000)  # the composer recursed into RecursionError
def test_model_loader_raises_only_coded_errors(text: str) -> None:
    _only_coded(load_model, text)


@FAST
@given(documents)
def test_model_loader_on_any_document_shape(document: Any) -> None:
    _only_coded(load_model, json.dumps(document, allow_nan=True))  # JSON is YAML


@FAST
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
@example(b"[server]\nmember_name = 'caf\xe9'\n")  # not UTF-8: UnicodeDecodeError before
@example(b"a = " + b"[" * 5000 + b"]" * 5000)  # tomllib recursion
def test_config_file_bytes_raise_only_coded_errors(tmp_path: Path, raw: bytes) -> None:
    (tmp_path / CONFIG_FILE).write_bytes(raw)
    _only_coded(load_settings, tmp_path, {})


SECTIONS = ["server", "store", "etcd", "tls", "naming", "session", "security"]
KEYS = [
    "member_name", "address", "port", "cluster_id", "roles", "backend", "client_port", "peer_port",
    "endpoints", "write_timeout", "dns_servers", "connect_delay", "deadline", "management",
    "heartbeat_interval", "capacity", "advertised_address", "login_workers", "max_body", "lockout_seconds",
]  # fmt: skip


@FAST
@given(
    st.dictionaries(
        st.sampled_from(SECTIONS),
        st.one_of(documents, st.dictionaries(st.sampled_from(KEYS), documents, max_size=6)),
        max_size=5,
    ),
    st.dictionaries(
        st.sampled_from([f"HOSTGATE_{s.upper()}_{k.upper()}" for s in SECTIONS for k in KEYS[:8]]),
        st.text(max_size=12),
        max_size=3,
    ),
)
def test_config_tables_raise_only_coded_errors(
    tmp_path: Path, raw: dict[str, Any], env: dict[str, str]
) -> None:
    base: dict[str, Any] = {"server": {"member_name": "m1", "address": "127.0.0.1"}}
    for section, value in raw.items():
        if isinstance(value, dict) and isinstance(base.get(section), dict):
            base[section] = {**base[section], **value}
        else:
            base[section] = value
    _only_coded(settings_from_mapping, base, tmp_path, env, "hostgate.toml")
    try:
        text = tomli_w.dumps(base)
    except (TypeError, ValueError):
        return  # not representable in TOML (None, NaN keys, ...): the file case is covered above
    (tmp_path / CONFIG_FILE).write_text(text)
    _only_coded(load_settings, tmp_path, env)


_KID, _PRIVATE_PEM, _PUBLIC_B64 = tokens.generate_key()
_PRIVATE = serialization.load_pem_private_key(_PRIVATE_PEM.encode(), password=None)
assert isinstance(_PRIVATE, Ed25519PrivateKey)
KEYS = tokens.KeySet([tokens.PublicKey(_KID, _PUBLIC_B64)])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: bytes, payload: bytes) -> str:
    """A token whose signature is genuine (the session server's own key set) around any header and payload."""
    signing_input = f"{_b64(header)}.{_b64(payload)}".encode()
    return f"{signing_input.decode()}.{_b64(_PRIVATE.sign(signing_input))}"


@FAST
@given(st.text(max_size=300))
def test_token_verifier_on_any_string(token: str) -> None:
    _only_coded(KEYS.verify, token, kind="session", cluster_id="c", server="s")


_HEADERS = [
    f'{{"alg":"EdDSA","kid":"{_KID}","typ":"JWT"}}'.encode(),
    b'{"alg":"HS256","typ":"JWT"}',
    b'{"alg":"none"}',
    b"[]",
    b"{",
]


@FAST
@given(documents, st.sampled_from(_HEADERS))
def test_token_verifier_on_signed_tokens_around_any_payload(payload: Any, header: bytes) -> None:
    if isinstance(payload, dict):
        payload = {"cid": "c", "srv": "s", "typ": "session", **payload}
    raw = json.dumps(payload, allow_nan=True).encode()
    _only_coded(KEYS.verify, _signed(header, raw), kind="session", cluster_id="c", server="s")


def test_token_verifier_on_a_deeply_nested_payload() -> None:
    raw = b'{"cid":"c","srv":"s","typ":"session","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    _only_coded(KEYS.verify, _signed(_HEADERS[0], raw), kind="session", cluster_id="c", server="s")


@pytest.mark.parametrize("text", ["²", "١٢", "1²", "-³"])
def test_a_port_of_unicode_digits_is_a_coded_error(tmp_path: Path, text: str) -> None:
    """str.isdigit() says yes to '²' and int() then raised a bare ValueError (found by hypothesis)."""
    base: dict[str, Any] = {"server": {"member_name": "m1", "address": "127.0.0.1"}}
    with pytest.raises(ConfigError, match="whole number"):
        settings_from_mapping(base, tmp_path, {"HOSTGATE_SERVER_PORT": text}, "hostgate.toml")
