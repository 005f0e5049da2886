"""Membership changes of the etcd cluster (list, add as learner, remove, promote), for ``EtcdStore``.

Membership changes are :attr:`~hostgate.store.etcd_retry.Mode.ONCE`: never sent twice once they may have
reached the leader, and given ``reconfig_timeout`` (at least 8 s) because etcd refuses them for 5 s after any
peer (re)connects (its strict reconfiguration check).
"""

from __future__ import annotations

from typing import Any

import grpc
from aetcd import rpc

from hostgate.errors import StoreError
from hostgate.store.base import MemberInfo
from hostgate.store.etcd_channel import REQUIRE_LEADER, SecureClient
from hostgate.store.etcd_faults import details
from hostgate.store.etcd_retry import Mode, Requests

__all__ = ["EtcdMembership"]


class EtcdMembership:
    """The membership calls of :class:`~hostgate.store.etcd.EtcdStore` (a mixin: the store sets both fields)."""

    _rpc: Requests
    _reconfig_timeout: float

    async def members(self) -> list[MemberInfo]:
        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.clusterstub.MemberList(rpc.MemberListRequest(), timeout=timeout)

        resp = await self._rpc.request("list members", attempt, Mode.READ, needs_leader=False)
        return [_member(m) for m in resp.members]

    async def add_member(
        self, peer_urls: list[str], *, learner: bool = False
    ) -> tuple[MemberInfo, list[MemberInfo]]:
        # A learner (etcd 3.4 raft learner) does not count towards the majority until promoted, so a member
        # that is added and never started costs the cluster no fault tolerance.
        request = rpc.MemberAddRequest(peerURLs=peer_urls, isLearner=learner)

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.clusterstub.MemberAdd(request, timeout=timeout, metadata=REQUIRE_LEADER)

        what = f"add member {','.join(peer_urls)}"
        resp = await self._rpc.request(what, attempt, Mode.ONCE, timeout=self._reconfig_timeout)
        return _member(resp.member), [_member(m) for m in resp.members]

    async def remove_member(self, member_id: int) -> None:
        request = rpc.MemberRemoveRequest(ID=member_id)

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.clusterstub.MemberRemove(request, timeout=timeout, metadata=REQUIRE_LEADER)

        await self._rpc.request(
            f"remove member {member_id:x}", attempt, Mode.ONCE, timeout=self._reconfig_timeout
        )

    async def promote_member(self, member_id: int) -> bool:
        """Promote a learner to a voting member: ``True`` once it votes, ``False`` while it has not caught up.

        etcd answers FAILED_PRECONDITION "can only promote a learner member which is in sync with leader" until
        the learner's log is close to the leader's (the caller retries), and "can only promote a learner
        member" for a member that already votes (an earlier promotion went through: ``True``). A learner's
        own etcd refuses the call ("rpc not supported for learner"): this store must talk to voters.
        """
        request = rpc.MemberPromoteRequest(ID=member_id)

        async def attempt(c: SecureClient, timeout: float) -> Any:
            try:
                return await c.clusterstub.MemberPromote(request, timeout=timeout, metadata=REQUIRE_LEADER)
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.FAILED_PRECONDITION:
                    return details(exc)
                raise

        answer = await self._rpc.request(
            f"promote member {member_id:x}", attempt, Mode.ONCE, timeout=self._reconfig_timeout
        )
        if not isinstance(answer, str):
            return True
        if "in sync" in answer:
            return False
        if "learner" in answer:
            return True  # "can only promote a learner member": it already votes
        raise StoreError(f"promote member {member_id:x}: etcd answered {answer}")


def _member(m: Any) -> MemberInfo:
    return MemberInfo(m.ID, m.name, tuple(m.peerURLs), tuple(m.clientURLs), bool(m.isLearner))
