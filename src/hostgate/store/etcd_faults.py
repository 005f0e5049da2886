"""What an etcd/gRPC error means for a request: retry it, give up, or tell the user (fault mapping).

etcd answers most refusals as a gRPC status with a free-text detail ("etcdserver: no leader", "request timed
out", "unhealthy cluster"), so the classification reads both. The question that matters for a retry is
whether the request may have been applied:

- refused before proposing (no leader, "unhealthy cluster", connect failed): nothing happened, repeat it;
- the connection broke, or no commit within the deadline: the outcome is unknown;
- anything else is final and becomes hostgate's error (``translate``).

Errors at the seam: no leader / no commit within ``write_timeout`` → ``QuorumLost``; cannot reach the
member → ``StoreUnavailable``; history compacted under a watch → ``StoreUnavailable``.
"""

from __future__ import annotations

import enum

import grpc

from hostgate.errors import (
    DeadlineExpired,
    HostgateError,
    MemberNotFound,
    QuorumLost,
    StoreError,
    StoreUnavailable,
)

__all__ = ["Fault", "classify", "details", "give_up", "past_deadline", "translate"]


class Fault(enum.Enum):
    NO_LEADER = "the member has no leader"  # refused before proposing: safe to repeat anything
    NOT_SENT = "no member could be reached"  # connect failed: nothing was sent
    # Membership changes are refused until the leader has heard from every member for 5 s (etcd's
    # strict reconfiguration check, HealthInterval): refused before proposing, so safe to repeat.
    UNHEALTHY = "etcd refuses membership changes until every member has been connected for 5 s"
    LOST = "the connection broke mid-request"  # outcome unknown
    TIMEOUT = "no commit within the deadline"  # outcome unknown
    OTHER = "error"


_NO_LEADER_DETAILS = ("no leader", "proposal dropped", "too many requests", "not capable")
_TIMEOUT_DETAILS = ("request timed out", "leader changed")
_NOT_SENT_DETAILS = ("failed to connect", "connection refused", "dns resolution failed", "no route to host")
# A client certificate the server rejects shows, under TLS 1.3, only as "Unwrap failed (TSI_DATA_CORRUPTED)".
_TLS_DETAILS = ("handshake", "certificate", "ssl", "tsi_data_corrupted")


def details(exc: grpc.aio.AioRpcError) -> str:
    return str(exc.details() or exc.code().name)


def classify(exc: grpc.aio.AioRpcError) -> Fault:
    code = exc.code()
    text = details(exc).lower()
    if any(d in text for d in _NO_LEADER_DETAILS):
        return Fault.NO_LEADER
    if code is grpc.StatusCode.DEADLINE_EXCEEDED or any(d in text for d in _TIMEOUT_DETAILS):
        return Fault.TIMEOUT
    if code is grpc.StatusCode.UNAVAILABLE:
        if "unhealthy cluster" in text:
            return Fault.UNHEALTHY
        if any(d in text for d in _TLS_DETAILS):
            return Fault.OTHER
        if any(d in text for d in _NOT_SENT_DETAILS):
            return Fault.NOT_SENT
        return Fault.LOST
    return Fault.OTHER


def translate(exc: grpc.aio.AioRpcError, what: str) -> HostgateError:
    """A final, non-retryable gRPC error as hostgate's error."""
    code = exc.code()
    said = details(exc)
    low = said.lower()
    if any(d in low for d in _TLS_DETAILS):
        return StoreUnavailable(
            f"{what}: etcd refused the TLS connection ({said})",
            hint="Check that etcd-ca.pem, etcd.pem and etcd-key.pem in the data directory belong to this cluster.",
        )
    if "not enough started members" in low:
        return QuorumLost(f"{what}: etcd refused, it would leave the cluster without a majority ({said})")
    if code is grpc.StatusCode.OUT_OF_RANGE and "compacted" in low:
        return StoreUnavailable(f"{what}: the revision asked for is compacted ({said})")
    if code is grpc.StatusCode.NOT_FOUND and "member" in low:
        return MemberNotFound(f"{what}: {said}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN):
        return StoreUnavailable(f"{what}: {said}")
    return StoreError(f"{what}: etcd answered {code.name}: {said}")


def give_up(
    what: str, fault: Fault, exc: BaseException | None, *, uncertain: bool, budget: float
) -> StoreError:
    """The error for a request that kept failing with ``fault`` until its budget ran out."""
    detail = f" ({details(exc)})" if isinstance(exc, grpc.aio.AioRpcError) else ""
    outcome = "; it may or may not have been applied, read it again" if uncertain else ""
    if fault in (Fault.NOT_SENT, Fault.LOST):
        return StoreUnavailable(f"{what}: {fault.value} within {budget:g} s{outcome}{detail}")
    if fault is Fault.UNHEALTHY:
        return QuorumLost(f"{what}: {fault.value}; a member was (re)connected recently, try again{detail}")
    return QuorumLost(
        f"{what}: no etcd leader could commit it within {budget:g} s ({fault.value}){outcome}{detail}"
    )


def past_deadline(what: str, *, uncertain: bool) -> DeadlineExpired:
    """The error for a guarded write whose client deadline (``store.guard``) ended it."""
    if not uncertain:
        return DeadlineExpired(f"{what}: not applied, the client's deadline passed before the store answered")
    return DeadlineExpired(
        f"{what}: the client's deadline passed while the store was committing it; it may or may not have "
        "been applied, and its idempotency record keeps it from being applied twice",
        hint="Read the current state before repeating the change.",
    )
