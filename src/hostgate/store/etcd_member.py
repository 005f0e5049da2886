"""``EtcdMember``: the etcd member hostgate starts and supervises beside each management server.

One member per management host (kubeadm's "stacked etcd"): client and peer ports both use mutual TLS with
the member-only etcd CA (``etcd-ca.pem``; never the cluster CA, which also signs session servers: etcd here has
no authorisation of its own, so any certificate it accepts is root over the store). The member's data lives in ``DATA_DIR/etcd`` and its log in ``DATA_DIR/logs/etcd.log``.
The process dies with hostgate even on ``kill -9`` (``PR_SET_PDEATHSIG``), is restarted with back-off when
it exits on its own, and is only ever signalled by the PID this object started. One exit is final: etcd
3.4 exits (code 0) after logging "the member has been permanently removed from the cluster" when its member
was removed (the conf change applied locally, or peers answering 410 Gone); restarting it would only repeat
that, so the supervisor stops and sets :attr:`EtcdMember.removed` instead.

Typical use (``hostgate server``)::

    member = EtcdMember(settings)
    await member.start()
    supervisor = asyncio.create_task(member.run())
    await member.wait_ready(60.0)
    ...
    supervisor.cancel()
    await member.stop()
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable

from hostgate.config.settings import Settings
from hostgate.errors import EtcdTrustOutdated, MemberRemoved, StoreUnavailable
from hostgate.store.base import StoreStatus
from hostgate.store.etcd import EtcdTls, fetch_status

__all__ = ["EtcdMember", "die_with_parent", "etcd_version", "require_member_only_ca"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_MIN_VERSION = (3, 4, 0)
_VERSION_RE = re.compile(r"etcd Version:\s*(\d+)\.(\d+)\.(\d+)")
# A member that ran this long before exiting counts as healthy: the back-off starts again from the first step.
_HEALTHY_RUN = 30.0
# etcd's ErrMemberRemoved text (etcdserver/api/rafthttp, etcdserver/server.go), logged before it exits.
REMOVED_MARK = "permanently removed from the cluster"


def etcd_version(binary: str) -> tuple[int, int, int]:
    """``etcd --version`` as ``(major, minor, patch)``; ``StoreUnavailable`` when the binary is missing."""
    path = shutil.which(binary)
    if path is None:
        raise StoreUnavailable(
            f"the etcd binary {binary!r} is not installed",
            hint="Install Debian's etcd-server (scripts/install-system-deps.sh) or set etcd.binary.",
        )
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreUnavailable(f"cannot run {path} --version: {exc}") from exc
    m = _VERSION_RE.search(out.stdout)
    if m is None:
        raise StoreUnavailable(f"{path} --version printed no version: {out.stdout.strip()[:200]!r}")
    return int(m[1]), int(m[2]), int(m[3])


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when the forking thread's process dies.

    Linux only (``None`` elsewhere). Everything is looked up before ``fork``: the child only calls ``prctl``.
    Note the kernel ties this to the *thread* that forked; hostgate forks from its event-loop thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    getppid = os.getppid
    exit_now = os._exit

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if getppid() != parent:  # the parent died between fork and prctl
            exit_now(1)

    return preexec


def require_member_only_ca(settings: Settings) -> None:
    """Refuse (HG-4030) a data directory made before etcd had its own member-only CA.

    Such a member's etcd trusts the cluster CA, which also signs session servers: starting it would reopen the
    store to every session server. Migrating in place would need every member to switch CA at once (etcd
    peers of the old and new trust cannot talk), so hostgate refuses clearly instead.
    """
    tls = settings.tls
    missing = [
        name
        for name in (tls.etcd_ca_file, tls.etcd_cert_file, tls.etcd_key_file)
        if not settings.path(name).is_file()
    ]
    if missing:
        raise EtcdTrustOutdated(
            f"{settings.data_dir} has no member-only etcd CA ({', '.join(missing)} missing): it was made by "
            "an earlier hostgate whose etcd trusted session servers' certificates too; refusing to start it"
        )


class EtcdMember:
    """Starts, watches and stops this host's etcd member, configured from ``Settings``."""

    def __init__(
        self,
        settings: Settings,
        *,
        restart_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0),
        stop_timeout: float = 10.0,
        version: tuple[int, int, int] | None = None,
    ) -> None:
        """``version`` skips running ``etcd --version`` (tests); ``restart_delays`` is the back-off ladder."""
        self.settings = settings
        self.name = settings.server.member_name
        self.client_url = settings.etcd_client_url
        self.peer_url = settings.etcd_peer_url
        self.data_dir = settings.etcd_data_dir
        self.log_path = settings.data_dir / "logs" / "etcd.log"
        self._restart_delays = restart_delays
        self._stop_timeout = stop_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._supervised = False
        self._restarts = 0
        self._started_at = 0.0
        self._version = version
        self._log_offset = 0
        self.removed = asyncio.Event()

    # --- configuration --------------------------------------------------------------------------------------

    @property
    def version(self) -> tuple[int, int, int]:
        if self._version is None:
            self._version = etcd_version(self.settings.etcd.binary)
            if self._version < _MIN_VERSION:
                raise StoreUnavailable(
                    f"etcd {'.'.join(map(str, self._version))} is too old; hostgate needs etcd 3.4 or newer"
                )
        return self._version

    def command(self) -> list[str]:
        """The etcd command line (flags valid for etcd 3.4 to 3.6)."""
        s = self.settings
        binary = shutil.which(s.etcd.binary) or s.etcd.binary
        initial_cluster = s.etcd.initial_cluster or f"{self.name}={self.peer_url}"
        tls = s.tls
        cmd = [
            binary,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={initial_cluster}",
            f"--initial-cluster-state={s.etcd.initial_cluster_state}",
            f"--cert-file={s.path(tls.etcd_cert_file)}",
            f"--key-file={s.path(tls.etcd_key_file)}",
            f"--trusted-ca-file={s.path(tls.etcd_ca_file)}",
            "--client-cert-auth",
            f"--peer-cert-file={s.path(tls.etcd_cert_file)}",
            f"--peer-key-file={s.path(tls.etcd_key_file)}",
            f"--peer-trusted-ca-file={s.path(tls.etcd_ca_file)}",
            "--peer-client-cert-auth",
            # The etcd CA signs only members' etcd certificates (pki.create_etcd_ca), so every certificate
            # this check would pass is a member's anyway; matching the peer's source IP against its
            # certificate breaks multi-homed hosts (and 127.0.0.x test clusters, where every peer dials from
            # 127.0.0.1).
            self._skip_peer_san_flag(),
            # etcd's defaults, stated: right for loopback and LAN round trips.
            "--heartbeat-interval=100",
            "--election-timeout=1000",
            # A restarted or briefly frozen member must not depose a healthy leader (3.5+ default).
            "--pre-vote=true",
            # Without compaction etcd keeps every revision forever; an hour covers any watch that resumes.
            "--auto-compaction-mode=periodic",
            "--auto-compaction-retention=1h",
            # 3.4 defaults to the deprecated capnslog logger; 3.5 has only zap.
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        if s.server.cluster_id:
            # Members of different clusters refuse each other even if one is pointed at the wrong peers.
            cmd.append(f"--initial-cluster-token=hostgate-{s.server.cluster_id}")
        return cmd

    def _skip_peer_san_flag(self) -> str:
        if self.version >= (3, 6, 0):
            return "--peer-skip-client-san-verification=true"
        return "--experimental-peer-skip-client-san-verification=true"

    def environment(self) -> dict[str, str]:
        # etcd also reads every flag from ETCD_* variables; an inherited one would fight the command line.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        machine = platform.machine().lower()
        if self.version < (3, 5, 0) and machine not in ("x86_64", "amd64"):
            # etcd 3.4 refuses to start on arm64 & co. unless told the platform is accepted as unsupported.
            env["ETCD_UNSUPPORTED_ARCH"] = {"aarch64": "arm64"}.get(machine, machine)
        return env

    # --- process --------------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def restarts(self) -> int:
        return self._restarts

    async def start(self) -> None:
        """Start the etcd process (no-op while it runs); returns once it is spawned, not when it is ready."""
        if self._proc is not None and self._proc.returncode is None:
            return
        require_member_only_ca(self.settings)
        self._stopping = False
        await self._spawn()

    async def _spawn(self) -> None:
        if self._version is None:
            await asyncio.to_thread(lambda: self.version)
        cmd = self.command()
        env = self.environment()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self._log_offset = out.tell()
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *cmd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    preexec_fn=die_with_parent(),
                    # Its own session (so its own process group): a Ctrl-C at hostgate's terminal must not
                    # reach etcd, which hostgate stops in order. Not ``process_group=0``: uvloop, hostgate's
                    # event loop, refuses that keyword (ValueError) and takes ``start_new_session``.
                    start_new_session=True,
                )
            except OSError as exc:
                raise StoreUnavailable(f"cannot start etcd member {self.name}: {exc}") from exc
        if self._stopping:  # stop() ran while we were spawning: it could not see this process
            self._proc.terminate()
            await self._proc.wait()
            return
        self._started_at = asyncio.get_running_loop().time()
        log.info("etcd member %s started (pid %d), client %s", self.name, self._proc.pid, self.client_url)

    async def wait_ready(self, timeout: float = 60.0) -> StoreStatus:
        """Poll the member's status over TLS until it answers; ``StoreUnavailable`` after ``timeout``.

        A member answers once it has joined its cluster, which needs a majority of the initial members.
        """
        tls = EtcdTls.from_settings(self.settings)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: Exception | None = None
        while loop.time() < deadline:
            if self._stopping:
                break
            if self.removed.is_set():
                raise self.removed_error()
            proc = self._proc
            if proc is not None and proc.returncode is not None and not self._supervised:
                raise StoreUnavailable(
                    f"etcd member {self.name} exited with {proc.returncode} before answering: {self._last_log_line()}",
                    hint=f"See {self.log_path}.",
                )
            try:
                return await fetch_status(
                    self.client_url, tls, timeout=min(1.0, max(0.05, deadline - loop.time()))
                )
            except StoreUnavailable as exc:
                last = exc
            await asyncio.sleep(0.1)  # poll interval, bounded by the deadline
        raise StoreUnavailable(
            f"etcd member {self.name} did not answer on {self.client_url} within {timeout:g} s"
            + (f": {last.message}" if isinstance(last, StoreUnavailable) else ""),
            hint=f"See {self.log_path}.",
        )

    def removed_error(self) -> MemberRemoved:
        return MemberRemoved(
            f"etcd member {self.name} has been permanently removed from its cluster (see {self.log_path})"
        )

    def _removed_in_log(self) -> bool:
        """Did the process that just exited log etcd's "permanently removed" error?"""
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                tail = f.read()
        except OSError:
            return False
        return REMOVED_MARK.encode() in tail

    def _exit_reason(self) -> str:
        """etcd's own words for why the process that just exited stopped: its last fatal entry since it
        started (e.g. "discovery failed: listen tcp 127.0.0.1:2379: bind: address already in use"), or ""."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                tail = f.read()[-65536:]
        except OSError:
            return ""
        for raw in reversed(tail.splitlines()):
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("level") in ("fatal", "panic"):
                reason = str(entry.get("msg", ""))
                if entry.get("error"):
                    reason += f": {entry['error']}"
                return reason[:300]
        return ""

    def _last_log_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "empty log"

    async def run_cycle(self) -> str:
        """Wait for the process to exit, then restart it after a back-off; returns the one-line decision."""
        proc = self._proc
        if proc is None:
            await self._spawn()
            return f"etcd member {self.name} was not running; started it (pid {self.pid})"
        code = await proc.wait()
        if self._stopping:
            return f"etcd member {self.name} stopped (exit {code})"
        if self._removed_in_log():
            self.removed.set()
            return (
                f"etcd member {self.name} exited with {code}: it has been permanently removed from the cluster; "
                "not restarting it"
            )
        loop = asyncio.get_running_loop()
        if loop.time() - self._started_at >= _HEALTHY_RUN:
            self._restarts = 0
        delay = self._restart_delays[min(self._restarts, len(self._restart_delays) - 1)]
        self._restarts += 1
        reason = self._exit_reason()
        log.warning(
            "etcd member %s exited with %s%s; restarting in %g s",
            self.name,
            code,
            f" ({reason})" if reason else "",
            delay,
        )
        await asyncio.sleep(delay)  # restart back-off
        if self._stopping:
            return f"etcd member {self.name} exited with {code}; not restarted (stopping)"
        await self._spawn()
        return f"etcd member {self.name} exited with {code}; restarted as pid {self.pid} after {delay:g} s"

    async def run(self) -> None:
        """Supervise until ``stop()`` (or cancellation), logging each decision."""
        self._supervised = True
        try:
            while not self._stopping and not self.removed.is_set():
                decision = await self.run_cycle()
                log.info("%s", decision)
        finally:
            self._supervised = False

    async def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM the process this object started, SIGKILL it after ``timeout``; returns its exit code."""
        self._stopping = True
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), self._stop_timeout if timeout is None else timeout)
            except TimeoutError:
                log.warning("etcd member %s ignored SIGTERM; killing pid %d", self.name, proc.pid)
                proc.kill()
                await proc.wait()
        log.info("etcd member %s stopped (exit %s)", self.name, proc.returncode)
        return proc.returncode
