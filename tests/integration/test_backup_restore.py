"""Backup and restore with real members: a lone SQLite server is backed up, destroyed, restored as the first
member of an etcd cluster (the migration), two members join it, and the data is all there; then that cluster is
backed up, destroyed and restored again. Damaged backups and used directories are refused, changing nothing."""

from __future__ import annotations

import json
import shutil
import ssl
from pathlib import Path

import httpx
import pytest

from hostgate.cli.lab import Installation, Member, free_port, installation
from hostgate.messages import read_backup

pytestmark = pytest.mark.slow


def _api(
    inst: Installation, member: Member, user: str = "admin", password: str | None = None
) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(member.data_dir / "ca.pem"))
    return httpx.Client(base_url=member.url, verify=ctx, auth=(user, password or inst.password), timeout=30.0)


def _seed(inst: Installation, member: Member) -> None:
    with _api(inst, member) as api:
        assert (
            api.post("/api/v1/users", json={"name": "alice", "password": "alice-pass-123"}).status_code == 201
        )
        assert api.post("/api/v1/domains", json={"name": "prod"}).status_code == 201
        grant = {"profile": "user", "subject_kind": "user", "subject": "alice", "scope_kind": "domain"}
        assert api.post("/api/v1/grants", json={**grant, "scope": "prod"}).status_code == 201


def _check(inst: Installation, member: Member, cluster_id: str) -> None:
    with _api(inst, member) as api:
        assert api.get("/api/v1/health").json()["cluster_id"] == cluster_id
        assert "alice" in {u["name"] for u in api.get("/api/v1/users").json()}
        assert [d["name"] for d in api.get("/api/v1/domains").json()] == ["prod"]
    with _api(inst, member, "alice", "alice-pass-123") as api:  # her password hash came along
        who = api.get("/api/v1/whoami")
        assert who.status_code == 200, who.text
        assert any(p["scope"] == "prod" for p in who.json()["profiles"]), who.json()


def _backup(inst: Installation, member: Member, path: Path) -> dict[str, object]:
    proc = inst.hostgate("cluster", "backup", str(path), *inst.client_args(member.target))
    assert path.stat().st_mode & 0o777 == 0o600
    manifest, _ = read_backup(path.read_bytes(), str(path))
    assert f'"sha256": "{manifest.sha256}"' in proc.stdout
    return {"store": manifest.store, "cluster_id": manifest.cluster_id}


def _restored_member(inst: Installation, name: str, address: str, root: Path) -> Member:
    return Member(
        name=name,
        address=address,
        data_dir=root / f"{name}-restored",
        port=inst.api_port,
        etcd_client_port=free_port(address),
        etcd_peer_port=free_port(address),
    )


def _restore(inst: Installation, backup: Path, m: Member, store: str) -> None:
    inst.hostgate(
        "cluster", "restore", str(backup), "--data-dir", str(m.data_dir), "--address", m.address,
        "--port", str(m.port), "--member-name", m.name, "--store", store,
        "--etcd-client-port", str(m.etcd_client_port), "--etcd-peer-port", str(m.etcd_peer_port),
    )  # fmt: skip


def _destroy(inst: Installation) -> None:
    for m in inst.members:
        m.terminate()
        shutil.rmtree(m.data_dir)
    inst.members.clear()


def test_sqlite_server_moves_to_a_three_member_etcd_cluster_and_back_up_again(tmp_path: Path) -> None:
    with installation(tmp_path / "lab") as inst:
        lone = inst.install_first(store="sqlite")
        lone.start()
        lone.wait_healthy()
        cluster_id = lone.health()["cluster_id"]  # type: ignore[index]
        _seed(inst, lone)
        first = tmp_path / "lone.hgbackup"
        assert _backup(inst, lone, first) == {"store": "sqlite", "cluster_id": cluster_id}
        password_file = inst.password_file
        _destroy(inst)

        # The migration: restored as the first member of a new etcd cluster, then two members join it.
        m1 = _restored_member(inst, "workhorse01", "127.0.0.1", tmp_path)
        _restore(inst, first, m1, "etcd")
        assert (m1.data_dir / "bootstrap.json").stat().st_mode & 0o777 == 0o600
        inst.members.append(m1)
        m1.start()
        m1.wait_healthy()
        for _ in range(2):
            joined = inst.join(m1)
            joined.start()
            joined.wait_healthy()
        status = inst.status(m1)
        assert status["id"] == cluster_id and status["store"] == "etcd"
        assert sorted(m["name"] for m in status["members"]) == ["workhorse01", "workhorse02", "workhorse03"]
        assert status["fault_tolerance"] == 1, status
        for m in inst.members:
            _check(inst, m, cluster_id)

        # Disaster recovery of the etcd cluster: back up, lose every member, restore one, data present.
        second = tmp_path / "etcd.hgbackup"
        assert _backup(inst, inst.members[1], second) == {"store": "etcd", "cluster_id": cluster_id}
        _destroy(inst)
        m4 = _restored_member(inst, "workhorse04", "127.0.0.4", tmp_path)
        _restore(inst, second, m4, "etcd")
        inst.members.append(m4)
        m4.start()
        m4.wait_healthy()
        status = inst.status(m4)
        assert [m["name"] for m in status["members"]] == [
            "workhorse04"
        ]  # the lost members are not carried over
        _check(inst, m4, cluster_id)
        assert password_file.exists()


@pytest.fixture(scope="module")
def backup_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bk")
    with installation(root / "lab") as inst:
        m = inst.install_first(store="sqlite")
        m.start()
        m.wait_healthy()
        path = root / "good.hgbackup"
        _backup(inst, m, path)
        # Without an Administrator: refused, no file.
        with _api(inst, m) as api:
            assert (
                api.post("/api/v1/users", json={"name": "bob", "password": "bob-pass-1234"}).status_code
                == 201
            )
        bob = root / "bob.pw"
        bob.write_text("bob-pass-1234\n")
        refused = root / "refused.hgbackup"
        proc = inst.hostgate(
            "cluster", "backup", str(refused), "--server", m.target, "--ca-file", str(inst.ca_file),
            "--user", "bob", "--password-file", str(bob), check=False,
        )  # fmt: skip
        assert proc.returncode == 1 and "HG-3002" in proc.stderr and not refused.exists()
    return path


def _damaged(good: bytes, how: str) -> bytes:
    if how == "flipped":
        i = len(good) - 40
        return good[:i] + bytes([good[i] ^ 0x01]) + good[i + 1 :]
    if how == "truncated":
        return good[: len(good) - 100]
    if how == "not-a-backup":
        return b"PK\x03\x04 something else entirely\n"
    if how == "manifest":
        head, _, rest = good.partition(b"\n")
        manifest, _, payload = rest.partition(b"\n")
        edited = json.loads(manifest)
        edited["sha256"] = "0" * 64
        return head + b"\n" + json.dumps(edited).encode() + b"\n" + payload
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["flipped", "truncated", "not-a-backup", "manifest"])
def test_a_damaged_backup_is_refused_before_anything_is_written(
    backup_file: Path, tmp_path: Path, how: str
) -> None:
    bad = tmp_path / "bad.hgbackup"
    bad.write_bytes(_damaged(backup_file.read_bytes(), how))
    target = tmp_path / "new"
    with installation(tmp_path / "cli") as inst:
        proc = inst.hostgate(
            "cluster", "restore", str(bad), "--data-dir", str(target), "--address", "127.0.0.1", check=False
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "HG-7211" in proc.stderr and "Traceback" not in proc.stderr
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".hostgate")] == []


def test_a_restore_never_writes_into_a_used_directory(backup_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "used"
    target.mkdir()
    (target / "keep.txt").write_text("mine\n")
    with installation(tmp_path / "cli") as inst:
        proc = inst.hostgate(
            "cluster",
            "restore",
            str(backup_file),
            "--data-dir",
            str(target),
            "--address",
            "127.0.0.1",
            check=False,
        )
    assert proc.returncode == 1 and "HG-7212" in proc.stderr
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
