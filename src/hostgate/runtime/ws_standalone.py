"""``hostgate webservices``: the web services as their own process (for a DMZ), a client of the cluster.

Files, all under the data directory unless given: ``webservices/plugin-cfg.xml`` (serverName; written with
``localhost`` when missing), the cluster CA ``ca.pem`` (or one per alias: ``webservices/ca/ALIAS.pem``), this
face's TLS certificate and key ``webservices/cert.pem`` and ``webservices/key.pem`` (HTTPS only, like every
hostgate face). It publishes the cluster's deployed models, or the model files given (``--model-file``, or
``webservices/models/*.yaml``) instead (webservices/wiring.py). Listens on one address (never every interface).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import ssl
from dataclasses import dataclass
from pathlib import Path

import uvicorn
import uvloop

from hostgate.config.settings import SecuritySettings
from hostgate.errors import ConfigError, UnsafeAddress
from hostgate.naming.target import parse_target
from hostgate.runtime.tls_scope import hardened_protocol
from hostgate.webservices.app import build_app
from hostgate.webservices.invoke import ClusterTrust
from hostgate.webservices.wiring import assemble, model_files

__all__ = ["StandaloneOptions", "run_standalone"]

log = logging.getLogger("hostgate.webservices")
_SECURITY = SecuritySettings()


@dataclass(frozen=True, slots=True)
class StandaloneOptions:
    data_dir: Path
    listen: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    hosts_file: Path | None = None
    dns_servers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ("hosts_file", "system_hosts", "dns", "system")
    management_port: int = 9440
    model_files: tuple[Path, ...] = ()
    idle_timeout: float = 300.0
    max_kept: int = 100


def _listen(listen: str) -> tuple[str, int]:
    host, port = parse_target(listen, 0)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"--listen {listen!r}: give an IP address and a port (127.0.0.1:9460)") from None
    if ip.is_unspecified:
        raise UnsafeAddress(f"--listen {listen!r} would listen on every interface; name one address")
    if port == 0:
        raise ConfigError(f"--listen {listen!r}: give a port")
    return host, port


def run_standalone(options: StandaloneOptions) -> None:
    host, port = _listen(options.listen)
    data = options.data_dir
    cert = options.cert_file or data / "webservices" / "cert.pem"
    key = options.key_file or data / "webservices" / "key.pem"
    for path, what in ((cert, "certificate"), (key, "key")):
        if not path.is_file():
            raise ConfigError(f"the web services' TLS {what} {path} does not exist (HTTPS only)")
    trust = ClusterTrust(
        ca_file=options.ca_file or data / "ca.pem",
        ca_dir=data / "webservices" / "ca",
        hosts_file=options.hosts_file,
        dns_servers=options.dns_servers,
        sources=options.sources,
        default_port=options.management_port,
    )
    ws, joined = assemble(
        data,
        trust,
        files=model_files(data, options.model_files),
        idle_timeout=options.idle_timeout,
        max_kept=options.max_kept,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s webservices %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = uvicorn.Config(
        build_app(ws, extra_routes=joined),
        host=host,
        port=port,
        # A member's protocol (runtime/tls_scope.py): an answer's head and body in one TLS record, slow headers
        # cut off, connections capped. uvicorn's own wrote each JSON answer as two records, and on a loaded
        # machine the client, woken by the head, could take the CPU before the body was written (issue #19's
        # REST latency). The limits are the [security] defaults a member starts with.
        http=hardened_protocol(
            header_timeout=_SECURITY.header_timeout,
            max_connections=_SECURITY.max_connections,
            identity={},
            http="httptools",
        ),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_cert_reqs=ssl.CERT_NONE,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    log.info(
        "web services listening on https://%s:%d (plugin-cfg.xml in %s)", host, port, data / "webservices"
    )
    server = uvicorn.Server(config)
    # uvloop, as a member runs (issue #16): ``asyncio.run`` here bypasses uvicorn's own loop choice, so the
    # process ran on asyncio's selector loop.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(server))


async def _serve(server: uvicorn.Server) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    await server.serve()
