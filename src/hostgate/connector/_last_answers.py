"""The last route or token answer the cluster gave this process, per caller and target (memory only).

Issue #17: when every management member is down, a client that was verified a moment ago should still reach its
session server, which may accept its token within its offline bound (session/offline.py). So when no member
answers (``NoMemberAnswered``), the connector re-uses the last answer it got for the same cluster, user,
password, and server-and-model (direct) or domain-and-model (via domain). It is never written to disk, and is
keyed by a digest of the password too, so one process never hands one caller's token to another caller who
did not give the same credentials. Bounded: the oldest entries go first.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from hostgate.messages import RouteAnswer

__all__ = ["LAST_ANSWERS", "LastAnswers"]

_KEPT = 1_000


class LastAnswers:
    def __init__(self, kept: int = _KEPT) -> None:
        self._kept = kept
        self._answers: OrderedDict[tuple[str, ...], RouteAnswer] = OrderedDict()
        self._lock = threading.Lock()  # sync sessions each run their own loop thread

    @staticmethod
    def key(cluster_id: str, user: str, password: str, kind: str, target: str, model: str) -> tuple[str, ...]:
        digest = hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()
        return (cluster_id, digest, kind, target, model)

    def remember(self, key: tuple[str, ...], answer: RouteAnswer) -> None:
        with self._lock:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self._kept:
                self._answers.popitem(last=False)

    def last(self, key: tuple[str, ...]) -> RouteAnswer | None:
        with self._lock:
            return self._answers.get(key)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


LAST_ANSWERS = LastAnswers()
