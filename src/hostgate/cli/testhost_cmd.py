"""``hostgate testhost 3270|5250|vt``: run the demo host a sample model expects, in the foreground.

The sample models (samples/models/demo3270.yaml, demo5250.yaml, demovt.yaml) name 127.0.0.1 and ports 3270,
5250 and 6023; this starts the matching host application shipped in ``hostgate.testhosts`` there (or at
``--address``/``--port``), says how to sign on, and stops it on Ctrl-C (SIGTERM to its own PID only).
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from hostgate.cli.output import console, handle_errors
from hostgate.errors import TestHostUnavailable, UsageError

__all__ = ["find_hosts_python", "testhost"]

TESTHOSTS = Path(__file__).resolve().parents[1] / "testhosts"
DEFAULT_PORTS = {"3270": 3270, "5250": 5250, "vt": 6023}
SAMPLES = {"3270": "demo3270", "5250": "demo5250", "vt": "demovt"}
# mainframe-mocker logs this once it listens (its port 0 bind included).
_LISTENING = re.compile(r"event=listening host=\S+ port=(\d+)")
_INSTALL = (
    "mainframe-mocker (the 3270/5250 demo host; Python >= 3.12) is not installed. In a source checkout: "
    "`make testhosts` (scripts/install-test-hosts.sh makes .venv-hosts). Elsewhere: "
    "`python3.12 -m venv ~/.hostgate-hosts && ~/.hostgate-hosts/bin/pip install mainframe-mocker==0.1.8 "
    "jinja2==3.1.6 markupsafe==3.0.4`, then `export HOSTGATE_HOSTS_PYTHON=~/.hostgate-hosts/bin/python`"
)


def find_hosts_python() -> Path | None:
    """The interpreter that can run mainframe-mocker: ``HOSTGATE_HOSTS_PYTHON``, a source checkout's
    ``.venv-hosts``, or this interpreter when it has mainframe-mocker itself."""
    given = os.environ.get("HOSTGATE_HOSTS_PYTHON")
    if given:
        return Path(given)
    checkout = TESTHOSTS.parents[2] / ".venv-hosts" / "bin" / "python"
    if checkout.exists():
        return checkout
    if importlib.util.find_spec("mfmock") is not None:
        return Path(sys.executable)
    return None


def _argv(kind: str, address: str, port: int) -> tuple[list[str], dict[str, str]]:
    if kind in ("3270", "5250"):
        python = find_hosts_python()
        if python is None or not python.exists():
            where = f" ({python} does not exist)" if python is not None else ""
            raise TestHostUnavailable(_INSTALL + where)
        app = TESTHOSTS / "mfhost.py"
        argv = [str(python), str(app), "--protocol", kind, "--host", address, "--port", str(port)]
        return [*argv, "--log-level", "INFO"], dict(os.environ)
    server = Path(sys.executable).parent / "telnetlib3-server"
    if not server.exists():
        found = shutil.which("telnetlib3-server")
        if found is None:
            raise TestHostUnavailable("telnetlib3-server is not installed (hostgate's telnetlib3 dependency)")
        server = Path(found)
    argv = [str(server), address, str(port), "--loglevel", "warning"]
    # The pty program is the curses app; ESCDELAY keeps Escape snappy (field notes: telnetlib3 + curses).
    argv += ["--pty-exec", sys.executable, "--", str(TESTHOSTS / "vthost.py")]
    return argv, {**os.environ, "ESCDELAY": "25"}


def _accepting(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.5):
        return True
    return False


def _wait_ready(proc: subprocess.Popen[str], kind: str, address: str, port: int, within: float) -> int:
    """The port the host listens on, once it does; ``TestHostUnavailable`` if it exits or takes too long."""
    deadline = time.monotonic() + within
    log: list[str] = []
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            rest = proc.stdout.read() if proc.stdout else ""
            text = "".join(log) + rest
            raise TestHostUnavailable(
                f"the {kind} test host exited ({proc.returncode}): {text.strip()[-600:]}"
            )
        if kind == "vt":
            if _accepting(address, port):
                return port
            time.sleep(0.05)  # polling the port, bounded by the deadline
            continue
        assert proc.stdout is not None
        line = proc.stdout.readline()
        log.append(line)
        found = _LISTENING.search(line)
        if found:
            return int(found.group(1))
    raise TestHostUnavailable(
        f"the {kind} test host did not listen within {within:g} s: {''.join(log)[-600:]}"
    )


def _every_interface(address: str) -> bool:
    """0.0.0.0 / :: in any spelling (``::0``, ``0:0::0``): parsed, not compared as text."""
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False  # a host name: the host's own listener resolves it to one address


@click.command("testhost")
@click.argument("kind", type=click.Choice(["3270", "5250", "vt"]))
@click.option(
    "--address", default="127.0.0.1", show_default=True, help="Address to listen on (keep it loopback)."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on (default: the sample's: 3270, 5250, vt 6023; 0: any free port).",
)
@handle_errors
def testhost(kind: str, address: str, port: int | None) -> None:
    """Run the demo host the sample model of KIND expects (samples/models/demo3270.yaml, demo5250.yaml,
    demovt.yaml) until Ctrl-C.

    Sign on as ADA, password LOVELACE. 3270 and 5250 need mainframe-mocker (Python >= 3.12, in its own venv:
    `make testhosts` in a checkout, or set HOSTGATE_HOSTS_PYTHON to an interpreter that has it; HG-1073 says
    how when it is missing). VT needs only hostgate's own telnetlib3.
    """
    if _every_interface(address):
        raise UsageError(
            "a test host listens on one address, never on every interface", hint="Use --address 127.0.0.1."
        )
    chosen = DEFAULT_PORTS[kind] if port is None else port
    if kind == "vt" and chosen == 0:
        raise UsageError("the VT test host needs a port of its own (telnetlib3-server cannot report port 0)")
    argv, env = _argv(kind, address, chosen)
    # SIGTERM (a service manager, a test) ends it like Ctrl-C does: the finally below stops the host first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        listening = _wait_ready(proc, kind, address, chosen, 30.0)
        console.print(
            f"{kind} test host for samples/models/{SAMPLES[kind]}.yaml listening on {address}:{listening} "
            "(user ADA, password LOVELACE); Ctrl-C stops it."
        )
        sys.stdout.flush()
        if proc.stdout is not None:
            for _ in proc.stdout:  # keep draining its log so it never blocks on a full pipe
                pass
        proc.wait()
        raise TestHostUnavailable(f"the {kind} test host exited ({proc.returncode})")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
