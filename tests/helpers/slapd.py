"""A real OpenLDAP slapd on free loopback ports, configured from a test LDIF (never debconf).

    with Slapd(tmp_path, ca, DIRECTORY_LDIF) as directory:
        directory.url        # ldap://127.0.0.1:PORT/  (StartTLS offered)
        directory.ldaps_url  # ldaps://127.0.0.1:PORT2/
        directory.pause()    # SIGSTOP: accepts TCP (the kernel's backlog), never answers

The configuration is a cn=config tree (``slapd.d``) built with ``slapadd -n0`` from an LDIF written here into
the test's temp dir: an mdb database, the memberof overlay, a TLS certificate issued by the test CA for
127.0.0.1. The data is loaded with ``ldapadd`` after start, so that the memberof overlay sees it. The default
directory Debian's postinst may create (/etc/ldap, /var/lib/ldap) is never read. What was found out running
Debian's slapd 2.5 (GnuTLS) here:

- ``-d 0`` keeps slapd in the foreground (no fork), so the PID we hold is slapd's own and is what we stop.
- slapadd ``-n0`` needs the schema entries in the same LDIF (``include:`` lines, which slapadd resolves).
- Root runs slapd as root (no ``-u``): it reads the 0700 temp dir.

Only loopback is bound; only this process is signalled, by its own PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import ldap3

from hostgate import pki
from tests.helpers.ports import free_port

__all__ = ["BASE_DN", "ROOT_DN", "ROOT_PW", "SERVICE_DN", "SERVICE_PW", "Slapd", "SlapdError", "slapd_binary"]

BASE_DN = "dc=example,dc=test"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PW = "root-secret-not-for-production"
SERVICE_DN = f"cn=hostgate,ou=services,{BASE_DN}"
SERVICE_PW = "service-secret-1"
_SBIN = Path("/usr/sbin")


class SlapdError(RuntimeError):
    pass


def slapd_binary() -> str | None:
    """slapd (Debian installs it in /usr/sbin, often not on a user's PATH), or None when not installed."""
    found = shutil.which("slapd") or (str(_SBIN / "slapd") if os.access(_SBIN / "slapd", os.X_OK) else None)
    if (
        found
        and shutil.which("ldapadd")
        and (shutil.which("slapadd") or os.access(_SBIN / "slapadd", os.X_OK))
    ):
        return found
    return None


def _config_ldif(work: Path) -> str:
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {work}/slapd.pid
olcTLSCACertificateFile: {work}/ca.pem
olcTLSCertificateFile: {work}/server.pem
olcTLSCertificateKeyFile: {work}/server.key

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: 500

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {work}/db
olcSuffix: {BASE_DN}
olcRootDN: {ROOT_DN}
olcRootPW: {ROOT_PW}
olcDbMaxSize: 16777216
olcAccess: {{0}}to attrs=userPassword by anonymous auth by self write by * none
olcAccess: {{1}}to * by users read by * none

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
"""


class Slapd:
    """One slapd process serving ``data_ldif`` (entries under :data:`BASE_DN`) over LDAP+StartTLS and LDAPS."""

    def __init__(self, work: Path, ca: pki.CertPair, data_ldif: str, *, start_timeout: float = 30.0) -> None:
        binary = slapd_binary()
        if binary is None:
            raise SlapdError("slapd/ldap-utils are not installed (make sysdeps installs them)")
        self.binary = binary
        self.work = work.resolve()
        self.ca = ca
        self.data_ldif = data_ldif
        self.start_timeout = start_timeout
        self.port = 0
        self.ldaps_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._paused = False

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ca_file(self) -> Path:
        return self.work / "ca.pem"

    def _tool(self, name: str) -> str:
        return shutil.which(name) or str(_SBIN / name)

    def _configure(self) -> None:
        (self.work / "db").mkdir(parents=True, exist_ok=True)
        (self.work / "slapd.d").mkdir(exist_ok=True)
        server = pki.issue_member_cert(self.ca, "ldap-test", ["127.0.0.1"])
        (self.work / "ca.pem").write_bytes(self.ca.cert_pem)
        (self.work / "server.pem").write_bytes(server.cert_pem)
        (self.work / "server.key").write_bytes(server.key_pem)
        os.chmod(self.work / "server.key", 0o600)
        (self.work / "config.ldif").write_text(_config_ldif(self.work))
        (self.work / "data.ldif").write_text(self.data_ldif)
        (self.work / "rootpw").write_text(ROOT_PW)
        os.chmod(self.work / "rootpw", 0o600)
        done = subprocess.run(
            [
                self._tool("slapadd"),
                "-n0",
                "-F",
                str(self.work / "slapd.d"),
                "-l",
                str(self.work / "config.ldif"),
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise SlapdError(f"slapadd -n0 failed: {done.stderr.decode(errors='replace')}")

    def start(self) -> Self:
        self._configure()
        self.port, self.ldaps_port = free_port(), free_port()
        log = (self.work / "slapd.log").open("wb")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-d",
                "0",
                "-F",
                str(self.work / "slapd.d"),
                "-h",
                f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.ldaps_port}/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready()
        self._load_data()
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SlapdError(f"slapd exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                server = ldap3.Server("127.0.0.1", port=self.port, connect_timeout=1.0)
                # Not ``with Connection(auto_bind=True)``: its __exit__ restores the state seen at __enter__
                # (already bound), so it would never close the socket.
                conn = ldap3.Connection(server, ROOT_DN, ROOT_PW, receive_timeout=2)
                try:
                    if conn.bind():
                        return
                finally:
                    conn.unbind()
                    if conn.socket is not None:  # ldap3 leaves it open when connect() failed
                        conn.socket.close()
            except ldap3.core.exceptions.LDAPException as exc:
                last = str(exc)
            time.sleep(0.05)  # poll interval, not synchronisation
        raise SlapdError(f"slapd did not answer within {self.start_timeout} s ({last}): {self.log_tail()}")

    def _load_data(self) -> None:
        done = subprocess.run(
            [
                self._tool("ldapadd"),
                "-x",
                "-H",
                self.url,
                "-D",
                ROOT_DN,
                "-y",
                str(self.work / "rootpw"),
                "-f",
                str(self.work / "data.ldif"),
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise SlapdError(f"ldapadd failed: {done.stderr.decode(errors='replace')}")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.work / "slapd.log").read_text(errors="replace").splitlines()[-lines:])
        return ""

    def pause(self) -> None:
        """SIGSTOP: the listening sockets stay open (connects succeed via the backlog), nothing answers."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)
        self._paused = False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self._paused:
            self.resume()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
