"""A lab for the web-service catalog, the Explorer and ``hostgate scaffold`` (#19): real processes throughout.

A lone management member (SQLite) behind the alias ``vhi-prod-sea`` (a hosts file), two session servers in
domain ``prod`` and a real mock 3270 host; models are activated with ``hostgate activatemodel`` (so the
cluster records them, as the catalog source reads them). ``serve(app)`` runs an ASGI app with uvicorn on
127.0.0.1 and a free port in a thread (the Explorer's page for the browser).

    with ws_lab(tmp_path, host_3270) as lab:
        lab.activate("orders", lab.s1, lab.s2)
        source = ClusterCatalog(lab.location)
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from hostgate.cli.lab import Installation, Member, installation, poll
from hostgate.connector import ClusterLocation
from tests.helpers.hosts import HostProcess
from tests.helpers.models import model_text
from tests.helpers.ports import free_port

__all__ = ["ALIAS", "WsLab", "serve", "ws_lab"]

ALIAS = "vhi-prod-sea"


@dataclass
class WsLab:
    inst: Installation
    s1: Member
    s2: Member
    host: HostProcess
    files: Path

    @property
    def hosts_file(self) -> Path:
        return self.inst.root / "hosts"

    @property
    def alias(self) -> str:
        return f"{ALIAS}:{self.inst.api_port}"

    @property
    def location(self) -> ClusterLocation:
        return ClusterLocation(self.alias, self.inst.ca_file, hosts_file=self.hosts_file, deadline=20.0)

    def basic(self, user: str = "admin", password: str | None = None) -> str:
        raw = f"{user}:{password if password is not None else self.inst.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def model_file(self, name: str, *, marker: str = "") -> Path:
        text = model_text("demo3270", self.host.port, name=name)
        if marker:
            text = f"# {marker}\n{text}"  # another text: another digest
        path = self.files / f"{name}-{marker or 'v1'}.yaml"
        path.write_text(text)
        return path

    def activate(self, name: str, *servers: Member, marker: str = "") -> Path:
        """``hostgate activatemodel --server S FILE`` for each server (recorded by the cluster)."""
        path = self.model_file(name, marker=marker)
        for server in servers:
            self.inst.hostgate(
                "activatemodel", "--server", server.target, str(path), "--ca-file", str(self.inst.ca_file),
                "--user", "admin", "--password-file", str(self.inst.password_file), timeout=120,
            )  # fmt: skip
        return path


@contextlib.contextmanager
def ws_lab(root: Path, host: HostProcess) -> Iterator[WsLab]:
    files = root / "model-files"
    files.mkdir(parents=True)
    with installation(root / "lab") as inst:
        member = inst.install_first(store="sqlite", cluster_name=ALIAS)
        member.start()
        member.wait_healthy()
        inst.write_hosts_file(ALIAS)
        s1 = inst.add_session_server(1, ALIAS, interval=1.0)
        s2 = inst.add_session_server(2, ALIAS, interval=1.0)
        args = inst.client_args()
        inst.hostgate("domain", "create", "prod", *args)
        for s in (s1, s2):
            inst.hostgate("domain", "add-server", "prod", s.name, *args)
        yield WsLab(inst, s1, s2, host, files)


@contextlib.contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """``app`` on ``http://127.0.0.1:PORT`` (a free port) until the block ends; yields the base URL. The app's
    lifespan runs, as in a real server: its shutdown closes the kept cluster connections of its catalog."""
    port = free_port("127.0.0.1")
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="ws-lab-uvicorn", daemon=True)
    thread.start()
    try:
        poll("the test web app to start", lambda: server.started, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
