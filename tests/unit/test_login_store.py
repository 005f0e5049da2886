"""The CLI's stored login (cli/login_store.py): private files, atomic replacement, unsafe files refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hostgate.cli.login_store import StoredLogin, delete_login, load_login, login_dir, save_login
from hostgate.errors import LoginFileUnsafe

CID = "6f1c2a9e-0000-4000-8000-000000000001"


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def _login(token: str = "hgcli_x") -> StoredLogin:
    return StoredLogin(CID, "ada", token, 2_000_000_000.0, "vhi-prod-sea")


def test_saved_0600_in_a_0700_directory_even_under_a_lax_umask(state_home: Path) -> None:
    old = os.umask(0o000)
    try:
        path = save_login(_login())
    finally:
        os.umask(old)
    assert path == state_home / "hostgate" / "logins" / f"{CID}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert load_login(CID) == _login()


def test_a_new_login_replaces_the_old_whole_and_a_wide_directory_is_narrowed(state_home: Path) -> None:
    save_login(_login("hgcli_first"))
    login_dir().chmod(0o755)
    save_login(_login("hgcli_second"))
    assert stat.S_IMODE(login_dir().stat().st_mode) == 0o700
    assert load_login(CID) == _login("hgcli_second")
    assert [p.name for p in login_dir().iterdir()] == [f"{CID}.json"]  # no temporary file left


def test_a_file_others_could_read_is_refused_not_used() -> None:
    path = save_login(_login())
    path.chmod(0o640)
    with pytest.raises(LoginFileUnsafe, match="other users could read"):
        load_login(CID)
    path.chmod(0o600)
    login_dir().chmod(0o711)
    with pytest.raises(LoginFileUnsafe, match="other users could read"):
        load_login(CID)


def test_garbage_is_refused_and_logout_deletes() -> None:
    path = save_login(_login())
    path.write_text("{not json")
    with pytest.raises(LoginFileUnsafe, match="cannot be read"):
        load_login(CID)
    assert delete_login(CID) and not delete_login(CID)
    assert load_login(CID) is None


def test_relative_xdg_state_home_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert login_dir() == tmp_path / "home" / ".local" / "state" / "hostgate" / "logins"
