"""A real dnsmasq serving test records on a free loopback port.

    with Dnsmasq(tmp_path, "127.0.0.11 m1 vhi-test\\n") as dns_server:
        resolver = AliasResolver(dns_servers=[dns_server.server], sources=["dns"])
        dns_server.set_records("127.0.0.12 m2 vhi-test\\n")   # rewrite + SIGHUP, returns once re-read

Records are a hosts file (``--addn-hosts``), which dnsmasq re-reads on SIGHUP without a restart. What was
found out running dnsmasq 2.90 (Debian dnsmasq-base) here:

- ``--addn-hosts`` needs an absolute path: dnsmasq changes to ``/`` before reading it.
- Started as root it drops to ``nobody`` and then cannot read files under pytest's 0700 temp directories,
  so as root it gets ``--user=root``.
- With no upstream (``--no-resolv``) a name it does not know is answered REFUSED, not NXDOMAIN;
  ``--local=/#/`` makes it authoritative for every name, so unknown names get NXDOMAIN and a name with only
  an A record gets an empty AAAA answer (NODATA), like a real zone.
- ``--conf-file=/dev/null`` keeps an installed ``/etc/dnsmasq.conf`` (full dnsmasq package) out of the test.
- Records from hosts files are served with TTL 0 and, for several addresses, in rotating order.

Only loopback is bound; only this process is signalled (by its own PID).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import dns.exception
import dns.message
import dns.query

from tests.helpers.ports import free_port

__all__ = ["Dnsmasq", "DnsmasqError", "dnsmasq_binary"]


class DnsmasqError(RuntimeError):
    pass


def dnsmasq_binary() -> str | None:
    """The dnsmasq binary (Debian installs it in /usr/sbin, often not on a user's PATH), or None."""
    found = shutil.which("dnsmasq")
    if found:
        return found
    return "/usr/sbin/dnsmasq" if os.access("/usr/sbin/dnsmasq", os.X_OK) else None


def _free_port(host: str) -> int:
    """A lab port (``free_port``: outside the kernel's ephemeral range) free for UDP too on ``host`` right now
    (dnsmasq listens on both)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        port = free_port(host)
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((host, port))
            except OSError:
                continue
            return port
    raise DnsmasqError(f"no port free for both UDP and TCP on {host}")


class Dnsmasq:
    """One dnsmasq process; ``server`` is its ``IP:PORT`` (``[::1]:PORT`` on IPv6).

    ``extra_args`` adds records of other kinds, e.g. ``--txt-record=name,text`` or ``--cname=alias,target``.
    """

    def __init__(
        self, workdir: Path, records: str = "", *, listen: str = "127.0.0.1", extra_args: Sequence[str] = ()
    ) -> None:
        binary = dnsmasq_binary()
        if binary is None:
            raise DnsmasqError("dnsmasq is not installed (Debian package dnsmasq-base; `make sysdeps`)")
        self.binary = binary
        self.listen = listen
        self.extra_args = tuple(extra_args)
        self.hosts_path = (workdir / "dnsmasq-hosts").resolve()
        self.hosts_path.parent.mkdir(parents=True, exist_ok=True)
        self._write(records)
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    @property
    def server(self) -> str:
        return f"[{self.listen}]:{self.port}" if ":" in self.listen else f"{self.listen}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "dnsmasq is not started"
        return self.proc.pid

    @property
    def log(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def _write(self, records: str) -> None:
        # Replace atomically so a SIGHUP can never catch dnsmasq reading half a file.
        tmp = self.hosts_path.with_suffix(".tmp")
        tmp.write_text(records, encoding="ascii")
        tmp.replace(self.hosts_path)

    def _command(self) -> list[str]:
        cmd = [
            self.binary,
            "--conf-file=/dev/null",
            "--keep-in-foreground",
            "--log-facility=-",
            "--pid-file=",
            "--no-resolv",
            "--no-hosts",
            "--local=/#/",
            "--bind-interfaces",
            f"--listen-address={self.listen}",
            f"--port={self.port}",
            f"--addn-hosts={self.hosts_path}",
        ]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        return cmd + list(self.extra_args)

    def _read_log(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _reads_of_records(self) -> int:
        return sum(1 for line in self._lines if f"read {self.hosts_path} " in line)

    def start(self, *, ready_within: float = 10.0) -> Self:
        """Start on a free port; return once it answers a query. Retries if the port was taken meanwhile."""
        for _ in range(5):
            self.port = _free_port(self.listen)
            self._lines = []
            self.proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            self._reader = threading.Thread(target=self._read_log, args=(self.proc,), daemon=True)
            self._reader.start()
            if self._wait_ready(ready_within):
                # Its start-up read of the records is logged too: wait until the log reader has it, or a first
                # set_records could count that line as its own re-read and return before the SIGHUP's (CI saw a
                # query answered NXDOMAIN from the records of before under load).
                with self._changed:
                    if self._changed.wait_for(lambda: self._reads_of_records() >= 1, timeout=ready_within):
                        return self
            self._reap()
            if "Address already in use" not in self.log:
                break
        raise DnsmasqError(f"dnsmasq did not start:\n{self.log}")

    def _wait_ready(self, within: float) -> bool:
        assert self.proc is not None
        query = dns.message.make_query("hostgate-readiness-probe.", "A")
        stop_at = time.monotonic() + within
        while time.monotonic() < stop_at:
            if self.proc.poll() is not None:
                return False
            try:
                dns.query.udp(query, self.listen, port=self.port, timeout=0.2)
            except (dns.exception.Timeout, OSError):
                # Not listening yet; waiting on the process paces the retries and notices an early exit.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=0.02)
                continue
            return True
        return False

    def set_records(self, records: str, *, within: float = 10.0) -> None:
        """Replace the records and return once dnsmasq has re-read them (SIGHUP, no restart)."""
        with self._changed:
            reads_before = self._reads_of_records()
        self._write(records)
        os.kill(self.pid, signal.SIGHUP)
        with self._changed:
            if not self._changed.wait_for(lambda: self._reads_of_records() > reads_before, timeout=within):
                raise DnsmasqError(f"dnsmasq did not re-read {self.hosts_path}:\n{chr(10).join(self._lines)}")

    def _reap(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def stop(self) -> None:
        self._reap()
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
