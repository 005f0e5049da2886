"""Request ids (``hostgate._http``): a per-process random prefix and a counter, unique within a process and
between a process and its forked child (issue #16 replaced ``secrets.token_hex`` per request)."""

from __future__ import annotations

from hostgate._http import _new_request_id


def test_request_ids_of_one_process_are_unique() -> None:
    ids = [_new_request_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(i.isascii() and len(i) <= 32 for i in ids)


def test_a_forked_child_draws_a_prefix_of_its_own() -> None:
    # What os.register_at_fork(after_in_child=...) runs in the child; a real fork from a test process with
    # threads is a DeprecationWarning (an error here).
    mine = _new_request_id()
    _new_request_id._reseed()
    theirs = _new_request_id()
    assert theirs.rsplit("-", 1)[0] != mine.rsplit("-", 1)[0]
    assert theirs.endswith("-1")
