"""Contacting one address: TCP first, then the public health endpoint over HTTPS with the cluster CA.

A refused port, a member that accepts TCP but never answers (SIGSTOP, deadlock) and a server of another
cluster are different faults with different fixes, so each probe says which it met.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import ssl
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.reversename
import httpx

from hostgate.connector.cluster import ClusterClient
from hostgate.connector.diagnosis.findings import Inputs, MemberEntry, Probe, State
from hostgate.errors import AuthenticationFailed, HostgateError, NotAuthorized
from hostgate.messages import API
from hostgate.naming import NameServer, format_target, normalize_name

__all__ = ["member_list", "probe", "ptr"]


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _tcp(address: str, port: int, timeout: float) -> Probe | None:
    """``None`` when a TCP connection opens (then closed again); else the probe that says why not."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(address, port)
    except TimeoutError:
        return Probe(address, State.NO_ANSWER, detail=f"no TCP answer within {timeout:g} s")
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            return Probe(address, State.REFUSED, detail=f"connection refused: nothing listens on port {port}")
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return Probe(address, State.NO_ANSWER, detail=f"cannot connect: {reason}")
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(timeout):
            await writer.wait_closed()
    return None


async def _identify(url: str, timeout: float) -> tuple[str | None, str | None]:
    """(member, cluster id) a server whose certificate is not ours says it is: public endpoint, no credentials."""
    try:
        async with httpx.AsyncClient(verify=False, timeout=timeout) as client:
            body = (await client.get(url)).json()
    except (httpx.HTTPError, ValueError):
        return None, None
    said = body if isinstance(body, dict) else {}
    member, cluster = said.get("member"), said.get("cluster_id")
    return (member if isinstance(member, str) else None), (cluster if isinstance(cluster, str) else None)


async def probe(address: str, port: int, tls: ssl.SSLContext, cluster_id: str, timeout: float) -> Probe:
    """What answers at ``address:port``: a member of this cluster, something else, or nothing (and how)."""
    failed = await _tcp(address, port, timeout)
    if failed is not None:
        return failed
    url = f"https://{format_target(address, port)}/api/v1/health"
    try:
        async with httpx.AsyncClient(verify=tls, timeout=timeout) as client:
            resp = await client.get(url)
    except httpx.TimeoutException:
        detail = f"accepts TCP connections but sent no answer within {timeout:g} s"
        return Probe(address, State.HUNG, detail=detail)
    except httpx.HTTPError as exc:
        if _caused_by(exc, ConnectionRefusedError):  # it went away between the two connections
            return Probe(address, State.REFUSED, detail=f"connection refused: nothing listens on port {port}")
        if _caused_by(exc, ssl.SSLCertVerificationError):
            member, cluster = await _identify(url, timeout)
            said = f" (it says: member {member} of cluster {cluster})" if member and cluster else ""
            detail = f"its certificate is not signed by this cluster's CA{said}"
            return Probe(address, State.OTHER_CLUSTER, member, cluster, detail)
        if isinstance(exc, httpx.ConnectError):
            return Probe(address, State.OTHER_CLUSTER, detail=f"not a hostgate server: TLS failed ({exc})")
        return Probe(address, State.NO_ANSWER, detail=f"{type(exc).__name__}: {exc}")
    answered_for = resp.headers.get("x-hostgate-cluster-id")
    member = resp.headers.get("x-hostgate-member")
    if answered_for is None:
        detail = f"not a hostgate server: answered HTTP {resp.status_code} without a cluster id"
        return Probe(address, State.OTHER_CLUSTER, detail=detail)
    if answered_for != cluster_id:
        detail = f"answers as member {member} of cluster {answered_for}"
        return Probe(address, State.OTHER_CLUSTER, member, answered_for, detail)
    if resp.status_code != 200:
        return Probe(address, State.NO_ANSWER, member, answered_for, f"answered HTTP {resp.status_code}")
    return Probe(address, State.MEMBER, member, answered_for, "ok")


async def member_list(answering: Sequence[str], inputs: Inputs) -> tuple[tuple[MemberEntry, ...], str] | str:
    """The members and who gave them, read through the first answering member that does; else why not."""
    if not answering or (inputs.password is None and inputs.bearer is None):
        return "no address of the alias answered for this cluster"
    faults: list[str] = []
    for address in answering:
        target = format_target(address, inputs.port)
        client = ClusterClient(
            target, ca_file=inputs.ca_file, user=inputs.user, password=inputs.password, bearer=inputs.bearer
        )
        try:
            status = (await client.call(API.cluster, None)).payload
            members = tuple(MemberEntry(m.name, m.address, m.port) for m in status.members)
            return members, status.answered_by
        except (AuthenticationFailed, NotAuthorized) as exc:
            return f"{address} refused the credentials: {exc}"
        except HostgateError as exc:
            faults.append(f"{address}: {exc}")
        except (KeyError, TypeError, ValueError):
            faults.append(f"{address}: the member list has an unexpected shape")
    return "; ".join(faults)


async def ptr(servers: Sequence[NameServer], address: str, timeout: float) -> tuple[str, ...]:
    """PTR names of ``address`` from ``servers`` only; empty when there are none or DNS cannot tell."""
    resolver = dns.asyncresolver.Resolver(configure=False)  # never /etc/resolv.conf
    resolver.nameservers = [dns.nameserver.Do53Nameserver(s.host, s.port) for s in servers]
    resolver.lifetime = timeout
    resolver.cache = None
    try:
        answer = await resolver.resolve(dns.reversename.from_address(address), "PTR", search=False)
    except (dns.exception.DNSException, ValueError):
        return ()
    return tuple(normalize_name(r.to_text()) for r in answer)
