"""A member's own place in its cluster: cold start, learner promotion, noticing its removal.

- **Cold start** (:func:`wait_for_store`): etcd 3.4 serves its client port only once it has joined its cluster
  (``ReadyNotify``, which needs a majority), so a client sees "Handshake read failed" and nothing else. Its
  peer port serves at once, though, so this member learns who is up by asking every known member's peer
  ``/version`` (mutual TLS with the member certificate) and says so, again and again, in its log and on its
  API ("1 of 3 members up; waiting for workhorse02, workhorse03"), for as long as it takes.
- **Known members** (``DATA_DIR/members.json``): the etcd member list as this member last saw it, rewritten
  while it serves; before its first write, ``etcd.initial_cluster`` from ``hostgate.toml``.
- **Learner promotion** (:func:`promote_self`): members join as raft learners (``install --join``); the new
  member promotes itself once its etcd runs, through the voters (a learner's own etcd refuses cluster calls),
  retrying while etcd says it is not in sync with the leader yet.
- **Removal** (:func:`watch_removal`): the member's record deleted (its watch), its etcd member id gone from
  the member list, or its etcd exiting "permanently removed" (``EtcdMember.removed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from hostgate.config.datadir import mark_removed
from hostgate.config.settings import Settings
from hostgate.errors import HostgateError, MemberNotReady, MemberRemoved, StoreError, StoreUnavailable
from hostgate.management.cache import ConfigCache
from hostgate.management.records import MEMBERS_PREFIX, MemberRecord, member_key
from hostgate.runtime.gate import ApiGate
from hostgate.store.base import MemberInfo, Store, StoreStatus
from hostgate.store.etcd import EtcdStore, EtcdTls, fetch_status
from hostgate.store.etcd_member import EtcdMember

__all__ = [
    "KNOWN_MEMBERS_FILE",
    "KnownMember",
    "known_members",
    "promote_self",
    "wait_for_store",
    "watch_removal",
]

log = logging.getLogger("hostgate.membership")

KNOWN_MEMBERS_FILE = "members.json"
_POLL = 0.25  # how often a waiting member looks again (the wait itself has no deadline)
_REPEAT = 10.0  # how often an unchanged waiting state is logged again
_LIST_PERIOD = 2.0  # how often a serving member re-reads the etcd member list


@dataclass(frozen=True, slots=True)
class KnownMember:
    name: str
    peer_url: str
    learner: bool = False


# --- known members ------------------------------------------------------------------------------------------


def known_members(settings: Settings) -> list[KnownMember]:
    """The members this one last knew of: ``members.json``, else ``etcd.initial_cluster`` (all voters)."""
    path = settings.data_dir / KNOWN_MEMBERS_FILE
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        raw = json.loads(path.read_text())
        found = [KnownMember(str(m["name"]), str(m["peer_url"]), bool(m.get("learner"))) for m in raw]
        if found:
            return found
    out: list[KnownMember] = []
    for item in settings.etcd.initial_cluster.split(","):
        name, sep, url = item.strip().partition("=")
        if sep and url:
            out.append(KnownMember(name, url))
    if not any(m.name == settings.server.member_name for m in out):
        out.append(KnownMember(settings.server.member_name, settings.etcd_peer_url))
    return out


def _write_known(settings: Settings, members: list[KnownMember]) -> None:
    path = settings.data_dir / KNOWN_MEMBERS_FILE
    text = json.dumps([asdict(m) for m in members], indent=2, sort_keys=True) + "\n"
    with contextlib.suppress(OSError):
        if path.exists() and path.read_text() == text:
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def _as_known(members: list[MemberInfo], records: list[MemberRecord]) -> list[KnownMember]:
    by_peer = {r.peer_url: r.name for r in records}
    out = []
    for m in members:
        peer = m.peer_urls[0] if m.peer_urls else ""
        # A member added but never started has no name in etcd yet: its record names it.
        out.append(KnownMember(m.name or by_peer.get(peer, f"{m.id:x}"), peer, m.is_learner))
    return sorted(out, key=lambda k: k.name)


# --- cold start -----------------------------------------------------------------------------------------------


def _peer_ssl(settings: Settings) -> ssl.SSLContext:
    """TLS towards etcd peer ports: the cluster CA, this member's certificate (``--peer-client-cert-auth``).

    The cluster CA signs only members, so a valid chain is the identity check; peers are dialled by URL and
    their certificates name the member, not always the URL's address.
    """
    tls = settings.tls
    ctx = ssl.create_default_context(cafile=str(settings.path(tls.ca_file)))
    ctx.check_hostname = False
    ctx.load_cert_chain(settings.path(tls.cert_file), settings.path(tls.key_file))
    return ctx


async def _peers_up(peers: list[KnownMember], ctx: ssl.SSLContext, timeout: float) -> set[str]:
    async def one(client: httpx.AsyncClient, peer: KnownMember) -> str | None:
        try:
            resp = await client.get(f"{peer.peer_url}/version")
        except (httpx.HTTPError, ssl.SSLError, OSError):
            return None
        return peer.name if resp.status_code == 200 else None

    async with httpx.AsyncClient(verify=ctx, timeout=timeout) as client:
        answers = await asyncio.gather(*(one(client, p) for p in peers))
    return {a for a in answers if a is not None}


def waiting_message(me: str, members: list[KnownMember], up: set[str]) -> tuple[str, list[str], list[str]]:
    """("1 of 3 members up; waiting for ...", up, down) over the voters (learners do not count)."""
    voters = sorted(m.name for m in members if not m.learner) or [me]
    up_voters = [n for n in voters if n in up or n == me]
    down = [n for n in voters if n not in up_voters]
    need = len(voters) // 2 + 1
    text = (
        f"{len(up_voters)} of {len(voters)} members up; waiting for {', '.join(down) or 'the election'} "
        f"({need} of {len(voters)} must be up for the cluster to serve)"
    )
    return text, up_voters, down


async def wait_for_store(settings: Settings, member: EtcdMember, gate: ApiGate) -> StoreStatus:
    """Wait, without a deadline, until this host's etcd member answers (it has joined its cluster).

    Meanwhile the API answers ``MemberNotReady`` saying how many members are up and which are awaited.
    """
    tls = EtcdTls.from_settings(settings)
    ctx = _peer_ssl(settings)
    me = settings.server.member_name
    members = known_members(settings)
    peers = [m for m in members if m.name != me]
    last_text, last_logged = "", 0.0
    loop = asyncio.get_running_loop()
    while True:
        if member.removed.is_set():
            raise member.removed_error()
        status_task = asyncio.ensure_future(fetch_status(settings.etcd_client_url, tls, timeout=1.0))
        try:
            up = await _peers_up(peers, ctx, timeout=1.0)
            return await status_task
        except StoreUnavailable:
            pass
        finally:
            status_task.cancel()
        text, up_names, down = waiting_message(me, members, up)
        gate.refuse(MemberNotReady(text), state="waiting", members_up=up_names, waiting_for=down)
        now = loop.time()
        if text != last_text or now - last_logged >= _REPEAT:
            log.warning("%s", text)
            last_text, last_logged = text, now
        await asyncio.sleep(_POLL)  # poll period while waiting for peers; no deadline on purpose


# --- learner promotion ----------------------------------------------------------------------------------------


async def promote_self(settings: Settings, local: Store, status: StoreStatus, gate: ApiGate) -> None:
    """Promote this member from learner to voter through the other members; returns once it votes."""
    me = settings.server.member_name
    text = (
        f"member {me} joined as a learner and is catching up with the cluster; it serves once it is promoted "
        "to a voting member"
    )
    gate.refuse(MemberNotReady(text), state="learner")
    log.info("%s", text)
    loop = asyncio.get_running_loop()
    last_logged = loop.time()
    voters: EtcdStore | None = None
    try:
        while True:
            try:
                if voters is None:
                    kvs, _ = await local.get_prefix(MEMBERS_PREFIX, serializable=True)
                    urls = [
                        r.client_url
                        for r in (MemberRecord.decode(kv.key, kv.value) for kv in kvs)
                        if r.name != me
                    ]
                    if not urls:
                        raise StoreUnavailable("no other member is known yet")
                    voters = EtcdStore(
                        urls, EtcdTls.from_settings(settings), write_timeout=settings.etcd.write_timeout
                    )
                if await voters.promote_member(status.member_id):
                    log.info("member %s promoted from learner to voting member", me)
                    return
                reason = "etcd says it is not in sync with the leader yet"
            except (StoreError, HostgateError) as exc:
                reason = str(exc)
                if voters is not None:
                    await voters.close()
                    voters = None
            if loop.time() - last_logged >= _REPEAT:
                log.warning("member %s is still a learner: %s", me, reason)
                last_logged = loop.time()
            await asyncio.sleep(_POLL)  # retry period while the learner catches up
    finally:
        if voters is not None:
            await voters.close()


# --- removal --------------------------------------------------------------------------------------------------


async def _record_gone(cache: ConfigCache, key: str) -> None:
    while not await cache.wait_until(lambda: cache.get(key) is None, timeout=3600.0):
        pass


async def _dropped_from_list(settings: Settings, store: Store, cache: ConfigCache, own_id: int) -> None:
    """Returns when the etcd member list no longer holds this member; keeps ``members.json`` current."""
    while True:
        try:
            members = await asyncio.wait_for(store.members(), 2.0)
            if members and all(m.id != own_id for m in members):
                return
            if members:
                records = [MemberRecord.decode(k, v) for k, v in cache.items(MEMBERS_PREFIX)]
                await asyncio.to_thread(_write_known, settings, _as_known(members, records))
        except (HostgateError, TimeoutError, OSError) as exc:
            # Only an answer without this member means "removed"; anything else is "look again later".
            log.debug("member list not read: %s", exc)
        await asyncio.sleep(_LIST_PERIOD)  # sampling period of the member list


async def _first(*aws: asyncio.Future[Any]) -> None:
    try:
        await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for fut in aws:
            fut.cancel()
        await asyncio.gather(*aws, return_exceptions=True)


async def watch_removal(
    settings: Settings, member: EtcdMember, store: Store, cache: ConfigCache, gate: ApiGate, own_id: int
) -> MemberRemoved:
    """Wait until this member is removed from its cluster; then stop serving, stop etcd, retire the data dir.

    The member record is deleted first (``ManagementService.remove_member``), while the member still gets the
    watch; the API refuses from that moment. etcd is stopped only once etcd itself has dropped the member
    (its list, or its "permanently removed" exit): stopping a member that still votes would cost the cluster
    its majority if the removal then failed, and a retried ``cluster remove`` finishes the job.
    """
    me = settings.server.member_name
    key = member_key(me)
    etcd_gone = asyncio.ensure_future(member.removed.wait())
    listed_gone = asyncio.ensure_future(_dropped_from_list(settings, store, cache, own_id))
    record_gone = asyncio.ensure_future(_record_gone(cache, key))
    await _first(etcd_gone, listed_gone, record_gone)
    error = MemberRemoved(f"member {me} has been removed from its cluster and no longer serves")
    gate.refuse(error, state="removed")
    if not (member.removed.is_set() or (listed_gone.done() and not listed_gone.cancelled())):
        log.warning("member %s: its record was deleted; waiting for etcd to drop it from the member list", me)
        await _first(
            asyncio.ensure_future(member.removed.wait()),
            asyncio.ensure_future(_dropped_from_list(settings, store, cache, own_id)),
        )
    log.error("member %s has been removed from its cluster: API closed, stopping its etcd member", me)
    await member.stop()
    mark_removed(settings, f"member {me} removed from cluster {settings.server.cluster_id}")
    return error
