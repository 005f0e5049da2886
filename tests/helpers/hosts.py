"""Real terminal hosts on loopback for the driver tests: mock 3270/5250 hosts (mainframe-mocker, run by the
.venv-hosts interpreter) and a VT host (telnetlib3-server --pty-exec running a curses program).

    with MainframeHost("3270").start() as host:      # returns once it listens; host.port is its port
        spec = sample_spec("demo3270", host.port)
    host.kill()                                      # SIGKILL, by its own PID only

Readiness is read, not guessed: mainframe-mocker binds port 0 and logs ``event=listening ... port=N``;
telnetlib3-server cannot report a port-0 bind (it logs ``:0``), so it gets a free port and is retried if it
loses the race for it, then polled with TCP connects until a deadline. Only 127.0.0.1 is bound.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from hostgate.models import HostSpec, Model, load_model
from tests.helpers.ports import free_port

__all__ = [
    "HOSTS_PYTHON",
    "SAMPLES",
    "HostProcess",
    "MainframeHost",
    "RefusingHost",
    "VtHost",
    "host_3270",
    "host_5250",
    "host_vt",
    "sample_model",
    "sample_spec",
]

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "tests" / "hosts" / "apps"
# The demo hosts ship in the package (issue #21: `hostgate testhost`); the refusing hosts stay test-only.
DEMO_HOSTS = ROOT / "src" / "hostgate" / "testhosts"
SAMPLES = ROOT / "samples" / "models"
HOSTS_PYTHON = ROOT / ".venv-hosts" / "bin" / "python"
TELNETLIB3_SERVER = Path(sys.executable).parent / "telnetlib3-server"
_LISTENING = re.compile(r"event=listening host=127\.0\.0\.1 port=(\d+) tls=False")


class HostError(RuntimeError):
    pass


class HostProcess:
    """One host process with its output collected; signalled only by its own PID."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    @property
    def log(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def _spawn(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self._lines = []
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _wait_for_line(self, pattern: re.Pattern[str], within: float) -> re.Match[str] | None:
        deadline = time.monotonic() + within
        with self._changed:
            while True:
                for line in self._lines:
                    found = pattern.search(line)
                    if found:
                        return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc is not None and self.proc.poll() is not None):
                    return None
                self._changed.wait(remaining)

    def _wait_accepting(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                # Not listening yet: waiting on the process paces the retries and notices an early exit.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=0.02)
        return False

    def kill(self) -> None:
        """SIGKILL (the host vanishes without a goodbye)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class MainframeHost(HostProcess):
    """src/hostgate/testhosts/mfhost.py over TN3270 or TN5250. ``slow_seconds``: how long the SLOW screen takes."""

    def __init__(self, protocol: str, *, slow_seconds: float = 1.5) -> None:
        super().__init__(f"mainframe-mocker {protocol}")
        self.protocol = protocol
        self.slow_seconds = slow_seconds

    def start(self, *, ready_within: float = 20.0) -> Self:
        if not HOSTS_PYTHON.exists():
            raise HostError(
                f"{HOSTS_PYTHON} is missing: run `make testhosts` (scripts/install-test-hosts.sh)"
            )
        argv = [
            str(HOSTS_PYTHON),
            str(DEMO_HOSTS / "mfhost.py"),
            "--protocol",
            self.protocol,
            "--host",
            "127.0.0.1",
        ]
        argv += ["--port", "0", "--slow-seconds", str(self.slow_seconds), "--log-level", "INFO"]
        self._spawn(argv)
        found = self._wait_for_line(_LISTENING, ready_within)
        if found is None:
            self.stop()
            raise HostError(f"{self.name} did not start:\n{self.log}")
        self.port = int(found.group(1))
        return self


class RefusingHost(HostProcess):
    """A host that refuses every session with a message screen and hangs up: tests/hosts/apps/tn3270_reject.py
    or tn5250_reject.py (plain Python: they need nothing but the standard library)."""

    def __init__(self, protocol: str, message: str) -> None:
        super().__init__(f"refusing {protocol} host")
        self.protocol = protocol
        self.message = message

    def start(self, *, ready_within: float = 20.0) -> Self:
        script = APPS / f"tn{self.protocol}_reject.py"
        self._spawn([sys.executable, str(script), "--port", "0", "--message", self.message])
        found = self._wait_for_line(_LISTENING, ready_within)
        if found is None:
            self.stop()
            raise HostError(f"{self.name} did not start:\n{self.log}")
        self.port = int(found.group(1))
        return self


class VtHost(HostProcess):
    """A program under ``telnetlib3-server --pty-exec`` (default: the curses test app)."""

    def __init__(self, program: Sequence[str] | None = None) -> None:
        super().__init__("telnetlib3-server")
        self.program = (
            list(program) if program is not None else [sys.executable, str(DEMO_HOSTS / "vthost.py")]
        )

    def start(self, *, ready_within: float = 20.0) -> Self:
        for _ in range(5):
            self.port = free_port()
            argv = [str(TELNETLIB3_SERVER), "127.0.0.1", str(self.port), "--loglevel", "warning"]
            argv += ["--pty-exec", self.program[0], "--", *self.program[1:]]
            # --timeout would crash every connection in telnetlib3 5.0.1 (field notes); its default is 300 s.
            self._spawn(argv, env={**os.environ, "ESCDELAY": "25"})
            if self._wait_accepting(ready_within):
                return self
            self.stop()
            if "address already in use" not in self.log.lower():
                break
        raise HostError(f"{self.name} did not start:\n{self.log}")


def sample_model(name: str) -> Model:
    return load_model(SAMPLES / f"{name}.yaml")


def sample_spec(name: str, port: int, **changes: object) -> HostSpec:
    """The sample model's host, pointed at a test host's port."""
    return dataclasses.replace(sample_model(name).host, address="127.0.0.1", port=port, **changes)  # type: ignore[arg-type]


def _serve(host: HostProcess) -> Iterator[HostProcess]:
    with host:
        yield host


@pytest.fixture(scope="session")
def host_3270() -> Iterator[HostProcess]:
    yield from _serve(MainframeHost("3270").start())


@pytest.fixture(scope="session")
def host_5250() -> Iterator[HostProcess]:
    yield from _serve(MainframeHost("5250").start())


@pytest.fixture(scope="session")
def host_vt() -> Iterator[HostProcess]:
    yield from _serve(VtHost().start())
