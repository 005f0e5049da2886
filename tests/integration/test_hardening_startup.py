"""Issue #15, finding 8: install refuses what it must, and a broken data directory stops the server with a
coded error naming the file (no traceback). Real ``hostgate`` processes, nothing started for long."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostgate.cli.lab import Installation, installation
from hostgate.connector import connect_direct
from hostgate.errors import UnsafeAddress

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("startup")) as inst:
        inst.install_first(store="sqlite")  # installed, never started: the tests copy and break it
        yield inst


def _install(inst: Installation, data_dir: Path, *extra: str) -> tuple[int, str]:
    proc = inst.hostgate(
        "install", "--data-dir", str(data_dir), "--store", "sqlite", "--member-name", "m1",
        "--admin-password-file", str(inst.password_file), *extra, check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("address", ["0.0.0.0", "::"])
def test_install_refuses_every_interface_addresses(inst: Installation, address: str) -> None:
    target = inst.root / f"any-{address.replace(':', '6')}"
    code, out = _install(inst, target, "--address", address, "--port", "9440")
    assert code != 0 and "error HG-3004" in out and "Traceback" not in out, out
    assert not target.exists()


def test_install_refuses_a_cluster_name_with_an_empty_label(inst: Installation) -> None:
    target = inst.root / "dots"
    code, out = _install(inst, target, "--address", "127.0.0.1", "--name", "a..b")
    assert code != 0 and "error HG-1011" in out and "Traceback" not in out, out
    assert not target.exists()


def _broken_copy(inst: Installation, name: str) -> Path:
    copy = inst.root / f"broken-{name}"
    shutil.copytree(inst.members[0].data_dir, copy)
    return copy


def _start(inst: Installation, data_dir: Path) -> str:
    proc = inst.hostgate("server", "--data-dir", str(data_dir), check=False, timeout=90)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    return out


def test_non_utf8_config_is_a_coded_error(inst: Installation) -> None:
    copy = _broken_copy(inst, "toml")
    (copy / "hostgate.toml").write_bytes(b'[server]\nmember_name = "caf\xe9"\n')
    out = _start(inst, copy)
    assert "error HG-1001" in out and "hostgate.toml" in out, out


@pytest.mark.parametrize(
    ("file", "damage"),
    [
        ("ca.pem", None),
        ("member-key.pem", b"garbage\n"),
        ("member.pem", b"-----BEGIN CERTIFICATE-----\nxx\n"),
    ],
)
def test_tls_files_are_checked_before_anything_starts(
    inst: Installation, file: str, damage: bytes | None
) -> None:
    copy = _broken_copy(inst, file)
    if damage is None:
        (copy / file).unlink()
    else:
        (copy / file).write_bytes(damage)
    out = _start(inst, copy)
    assert "error HG-4005" in out and file in out, out


def test_connect_direct_refuses_plain_http(tmp_path: Path) -> None:
    async def attempt() -> None:
        await connect_direct(
            "http://127.0.0.1:9",
            "m",
            management="vhi-prod-sea:1",
            user="u",
            password="p",
            ca_file=tmp_path / "ca.pem",
        )

    with pytest.raises(UnsafeAddress):
        asyncio.run(attempt())
