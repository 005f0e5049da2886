"""``hostgate webservices`` as a real process on 127.0.0.1 and a free port, for the web-service tests and bench.

    ws = WsProcess(root / "ws", hosts_file=inst.root / "hosts", model_files=[path]).start()
    ws.write_plugin_cfg("vhi-a:9440", domain="prod")
    httpx.post(f"{ws.url}/ws/v1/models/demo3270/procedures/list_customers", json={}, verify=ws.ctx, ...)

Its TLS identity comes from a CA of its own (``ws.ca_file`` verifies it); the cluster CA it trusts is
copied in per alias (``trust(alias, ca_file)``). Only the process it started is signalled, by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from hostgate.cli.lab import poll
from tests.helpers.ports import free_port
from tests.helpers.tls import loopback_tls

__all__ = ["WsProcess", "plugin_cfg_text"]


def plugin_cfg_text(server_name: str, *, domain: str = "prod", extra: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<plugin-cfg>\n'
        f'  <entry key="serverName">{server_name}</entry>\n'
        f'  <entry key="domain">{domain}</entry>\n{extra}</plugin-cfg>\n'
    )


class WsProcess:
    def __init__(
        self,
        data_dir: Path,
        *,
        hosts_file: Path | None,
        model_files: Sequence[Path],
        management_port: int = 9440,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.hosts_file = hosts_file
        self.model_files = list(model_files)
        self.management_port = management_port
        self.extra_args = list(extra_args)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        (data_dir / "webservices" / "ca").mkdir(parents=True, exist_ok=True)
        tls_dir = data_dir / "tls"
        tls_dir.mkdir(exist_ok=True)
        loopback_tls(tls_dir)
        shutil.copy(tls_dir / "cert.pem", data_dir / "webservices" / "cert.pem")
        shutil.copy(tls_dir / "key.pem", data_dir / "webservices" / "key.pem")
        self.ca_file = tls_dir / "ca.pem"
        self.ctx = ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def plugin_cfg(self) -> Path:
        return self.data_dir / "webservices" / "plugin-cfg.xml"

    def write_plugin_cfg(self, server_name: str, **kwargs: str) -> None:
        tmp = self.plugin_cfg.with_suffix(".tmp")
        tmp.write_text(plugin_cfg_text(server_name, **kwargs))
        os.replace(tmp, self.plugin_cfg)

    def trust(self, alias: str, ca_file: Path) -> None:
        """The CA of the cluster behind ``alias`` (webservices/ca/ALIAS.pem)."""
        shutil.copy(ca_file, self.data_dir / "webservices" / "ca" / f"{alias}.pem")

    def start(self) -> WsProcess:
        self.port = free_port("127.0.0.1")
        args = [
            sys.executable, "-m", "hostgate.cli.main", "webservices",
            "--data-dir", str(self.data_dir),
            "--listen", f"127.0.0.1:{self.port}",
            "--ca-file", str(self.data_dir / "webservices" / "ca" / "default.pem"),
            "--naming-sources", "hosts_file,system_hosts",
            "--management-port", str(self.management_port),
            *self.extra_args,
        ]  # fmt: skip
        if self.hosts_file is not None:
            args += ["--hosts-file", str(self.hosts_file)]
        for f in self.model_files:
            args += ["--model-file", str(f)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
        with (self.data_dir / "webservices.log").open("ab") as log:
            # A session of its own, as the lab starts members and session servers: with the kernel's autogroup
            # scheduling (on by default) it would otherwise share one CPU share with the test or bench driving
            # it, and on a loaded machine every REST call would wait for the driver's slice (issue #19's bench).
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"hostgate webservices exited with {self.proc.returncode}: {self.log()}")
            httpx.get(f"{self.url}/ws/v1/models/none/openapi.json", verify=self.ctx, timeout=2)
            return True

        poll("hostgate webservices to answer", ready, 60)
        return self

    def log(self) -> str:
        path = self.data_dir / "webservices.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
