"""`hostgate model capture` as a command: its coded refusals (each before anything is connected or written, no
traceback), --resume through the TUI with the save offered at Ctrl-Q, and --replay's report and exit status
against the real 3270 test host, unchanged and changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hostgate.models import load_model
from tests.capture.conftest import start_changed
from tests.capture.test_tui_capture import PASSWORD, Capture, _values
from tests.helpers.hosts import SAMPLES, HostProcess, RefusingHost, host_3270
from tests.helpers.ports import free_port
from tests.helpers.tmux import Tmux, tmux_available

__all__ = ["host_3270"]

HOSTGATE = [sys.executable, "-m", "hostgate.cli.main"]
needs_tmux = pytest.mark.skipif(
    not tmux_available(), reason="tmux is missing: scripts/install-system-deps.sh"
)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HOSTGATE, "model", "capture", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _refused(done: subprocess.CompletedProcess[str], code: str) -> None:
    assert code in done.stderr, done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_out_existing_without_resume_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "model.yaml"
    out.write_text("keep me\n")
    done = _run("--host", "127.0.0.1:1", "--type", "3270", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 1
    _refused(done, "HG-6642")
    assert out.read_text() == "keep me\n"


@pytest.mark.parametrize("host", ["nohost", "127.0.0.1:0", "127.0.0.1:99999", "::1:23", "[nothex]:23"])
def test_bad_host_address_is_a_usage_error(host: str, tmp_path: Path) -> None:
    done = _run("--host", host, "--type", "3270", "--out", str(tmp_path / "m.yaml"), cwd=tmp_path)
    assert done.returncode == 2
    _refused(done, "HG-6643")


def test_without_a_terminal_it_refuses_before_connecting(tmp_path: Path) -> None:
    done = _run("--host", "127.0.0.1:1", "--type", "vt", "--out", str(tmp_path / "m.yaml"), cwd=tmp_path)
    assert done.returncode == 1
    _refused(done, "HG-6641")
    assert not (tmp_path / "m.yaml").exists()


def _pane_exit(pane: Tmux) -> str:
    return pane.wait_for("EXIT STATUS", within=60)


@needs_tmux
def test_terminal_too_small_is_refused_with_the_size_needed(tmp_path: Path) -> None:
    argv = [*HOSTGATE, "model", "capture", "--host", "127.0.0.1:1", "--type", "3270", "--out", "m.yaml"]
    with Tmux(argv, cols=79, rows=40, cwd=tmp_path) as pane:
        text = _pane_exit(pane)
    assert "HG-6640" in text and "80x27" in text and "79x40" in text, text
    assert "EXIT STATUS 1" in text


@needs_tmux
def test_a_host_that_refuses_is_a_coded_error(tmp_path: Path) -> None:
    with RefusingHost("3270", "NO AVAILABLE DEVICE").start() as host:
        argv = [*HOSTGATE, "model", "capture", "--host", f"127.0.0.1:{host.port}", "--type", "3270"]
        with Tmux([*argv, "--out", "m.yaml"], cols=100, rows=30, cwd=tmp_path) as pane:
            text = _pane_exit(pane)
    assert "HG-7001" in text and "NO AVAILABLE DEVICE" in text, text
    assert "Traceback" not in text and "EXIT STATUS 1" in text
    # Nothing listening at all: refused the same way.
    argv = [*HOSTGATE, "model", "capture", "--host", f"127.0.0.1:{free_port()}", "--type", "3270"]
    with Tmux([*argv, "--out", "m.yaml"], cols=100, rows=30, cwd=tmp_path) as pane:
        text = _pane_exit(pane)
    assert "HG-7001" in text and "EXIT STATUS 1" in text, text
    assert not (tmp_path / "m.yaml").exists()


@needs_tmux
def test_resume_adds_to_a_model_and_quit_offers_to_save(host_3270: HostProcess, tmp_path: Path) -> None:
    out = tmp_path / "model.yaml"
    argv = [*HOSTGATE, "model", "capture", "--host", f"127.0.0.1:{host_3270.port}", "--type", "3270"]
    with Tmux([*argv, "--out", str(out)], cols=100, rows=30, cwd=tmp_path) as pane:
        capture = Capture(pane)
        pane.wait_for("screen:(new)")
        capture.mark("SignOn")
        pane.send("C-q")
        pane.wait_for("Save the model before quitting?")
        pane.send("Enter")  # the default: y
        pane.wait_for("EXIT STATUS 0")
    assert [e.name for e in load_model(out).entities] == ["SignOn"]

    with Tmux([*argv, "--resume", str(out), "--out", str(out)], cols=100, rows=30, cwd=tmp_path) as pane:
        capture = Capture(pane)
        pane.wait_for("screen:SignOn ")  # the resumed model recognises the first screen
        pane.type("ADA")
        pane.send("Tab")
        pane.type(PASSWORD)
        pane.send("Enter")
        pane.wait_for("MAIN MENU")
        capture.mark(
            "Menu",
            [(r"Operation of SignOn .*: name", "signon"), *_values({"ADA": ("v", "userid")})],
        )
        pane.send("C-q")
        pane.wait_for("Save the model before quitting?")
        pane.send("C-u")
        pane.type("y")
        pane.send("Enter")
        pane.wait_for("EXIT STATUS 0")
    model = load_model(out)
    assert [e.name for e in model.entities] == ["SignOn", "Menu"]
    assert PASSWORD not in out.read_text()


def test_replay_reports_and_fails_on_a_changed_host(host_3270: HostProcess, tmp_path: Path) -> None:
    sample = SAMPLES / "demo3270.yaml"
    done = _run("--replay", str(sample), "--host", f"127.0.0.1:{host_3270.port}", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every operation landed where the model says" in done.stdout

    with start_changed("3270") as changed:
        done = _run("--replay", str(sample), "--host", f"127.0.0.1:{changed.port}", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Menu.open_list" in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--replay", str(SAMPLES / "demo3270.yaml"), "--out", "x.yaml"], "takes no --out"),
        (
            ["--host", "127.0.0.1:23", "--type", "vt", "--out", "x.yaml", "--tls-ca-file", __file__],
            "add --tls",
        ),
        (["--host", "127.0.0.1:23", "--out", "x.yaml"], "needs --type"),
    ],
)
def test_options_that_do_not_fit_together(args: list[str], says: str, tmp_path: Path) -> None:
    done = _run(*args, cwd=tmp_path)
    assert done.returncode == 2
    _refused(done, "HG-1003")
    assert says in done.stderr


@needs_tmux
def test_a_failed_write_is_shown_and_the_capture_goes_on(host_3270: HostProcess, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    out = folder / "model.yaml"
    argv = [*HOSTGATE, "model", "capture", "--host", f"127.0.0.1:{host_3270.port}", "--type", "3270"]
    with Tmux([*argv, "--out", str(out)], cols=100, rows=30, cwd=tmp_path) as pane:
        capture = Capture(pane)
        pane.wait_for("screen:(new)")
        capture.mark("SignOn")
        folder.rmdir()  # the directory of --out vanishes while capturing
        pane.send("C-w")
        pane.wait_for("HG-6644: cannot write")
        folder.mkdir()
        pane.send("C-w")
        pane.wait_for("wrote ")
        pane.send("C-q")
        pane.wait_for("EXIT STATUS 0")
    assert [e.name for e in load_model(out).entities] == ["SignOn"]


@needs_tmux
def test_quit_on_a_too_small_terminal_asks_twice_before_discarding(
    host_3270: HostProcess, tmp_path: Path
) -> None:
    out = tmp_path / "model.yaml"
    argv = [*HOSTGATE, "model", "capture", "--host", f"127.0.0.1:{host_3270.port}", "--type", "3270"]
    with Tmux([*argv, "--out", str(out)], cols=100, rows=30, cwd=tmp_path) as pane:
        capture = Capture(pane)
        pane.wait_for("screen:(new)")
        capture.mark("SignOn")
        pane.resize(70, 20)
        pane.wait_for_words("enlarge the window to save them")
        pane.send("C-q")
        pane.wait_for_words("Ctrl-Q again discards them")
        pane.resize(100, 30)  # back to a usable size: the capture is still there
        pane.wait_for("screen:SignOn ")
        pane.resize(70, 20)
        pane.wait_for_words("enlarge the window to save them")
        pane.send("C-q")
        pane.wait_for_words("Ctrl-Q again discards them")
        pane.send("C-q")
        text = pane.wait_for("EXIT STATUS 0")
    assert "nothing written" in text
    assert not out.exists()
