"""The config loader refuses bad input whole, naming the field; good input round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostgate.config.settings import (
    EtcdSettings,
    ServerSettings,
    Settings,
    StoreBackend,
    load_settings,
    write_settings,
)
from hostgate.errors import ConfigError, DataDirError


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "hostgate.toml").write_text(text)
    return tmp_path


GOOD = """
[store]
backend = "etcd"
[server]
member_name = "workhorse01"
address = "127.0.0.1"
port = 9441
cluster_id = "abc"
[etcd]
client_port = 2381
"""


def test_good_file_loads_typed_values(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, GOOD), env={})
    assert s.store is StoreBackend.ETCD
    assert s.server.port == 9441
    assert s.etcd.client_port == 2381
    assert s.etcd.peer_port == 2380
    assert s.url == "https://127.0.0.1:9441"


def test_round_trip(tmp_path: Path) -> None:
    s = Settings(
        data_dir=tmp_path,
        server=ServerSettings("m1", "::1", 9000, "cid"),
        store=StoreBackend.ETCD,
        etcd=EtcdSettings(1, 2, "m1=https://[::1]:2", "new"),
    )
    write_settings(s)
    back = load_settings(tmp_path, env={})
    assert back == Settings(data_dir=tmp_path.resolve(), server=s.server, store=s.store, etcd=s.etcd)
    assert back.etcd_peer_url == "https://[::1]:2"


def test_environment_overrides_file(tmp_path: Path) -> None:
    s = load_settings(
        _write(tmp_path, GOOD), env={"HOSTGATE_SERVER_PORT": "9500", "HOSTGATE_STORE": "sqlite"}
    )
    assert s.server.port == 9500
    assert s.store is StoreBackend.SQLITE


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.replace("port = 9441", 'port = "many"'), "server.port"),
        (GOOD.replace("port = 9441", "port = 70000"), "server.port"),
        (GOOD.replace('address = "127.0.0.1"', 'address = "not-an-ip"'), "server.address"),
        (GOOD.replace('member_name = "workhorse01"', 'member_name = "bad name!"'), "server.member_name"),
        (GOOD.replace('backend = "etcd"', 'backend = "redis"'), "store.backend"),
        (GOOD + "\n[surprise]\nx = 1\n", "surprise"),
        (GOOD.replace("client_port = 2381", "client_prot = 2381"), "etcd.client_prot"),
        (GOOD.replace('member_name = "workhorse01"\n', ""), "server.member_name"),
        ("[server\nbroken", "not valid TOML"),
        (GOOD.replace('cluster_id = "abc"', 'cluster_id = "abc"\nhttp = "http2"'), "server.http"),
        (GOOD.replace('cluster_id = "abc"', 'cluster_id = "abc"\nloop = "trio"'), "server.loop"),
        (GOOD + '\n[session]\nhttp = "h11"\n', "session.http"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text), env={})
    assert field in info.value.message
    assert str(tmp_path) in info.value.message


def test_the_server_stack_defaults_to_httptools_on_uvloop_and_can_be_the_old_one(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, GOOD), env={})
    assert (s.server.http, s.server.loop) == ("httptools", "uvloop")
    old = load_settings(tmp_path, env={"HOSTGATE_SERVER_HTTP": "h11", "HOSTGATE_SERVER_LOOP": "asyncio"})
    assert (old.server.http, old.server.loop) == ("h11", "asyncio")
    # The session face runs hostgate's own HTTP/1.1 unless told to run uvicorn's (issue #18).
    assert s.session.http == "lean"
    assert load_settings(tmp_path, env={"HOSTGATE_SESSION_HTTP": "uvicorn"}).session.http == "uvicorn"


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HOSTGATE_ETCD_PEER_PORT"):
        load_settings(_write(tmp_path, GOOD), env={"HOSTGATE_ETCD_PEER_PORT": "x"})


def test_missing_directory_is_a_data_dir_error(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match="not a hostgate data directory"):
        load_settings(tmp_path / "nope", env={})
