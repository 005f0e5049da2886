"""The error tree and its catalogue stay in step; codes are unique and survive a round trip over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hostgate import errors

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _all_classes() -> list[type[errors.HostgateError]]:
    found: list[type[errors.HostgateError]] = []
    pending = [errors.HostgateError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    # The root's HG-1000 is only the default of an error without its own code; InternalError owns it.
    return [c for c in found if c not in (errors.RemoteError, errors.HostgateError)]


def test_codes_are_unique_and_well_formed() -> None:
    codes = [c.code for c in _all_classes()]
    assert len(codes) == len(set(codes)), codes
    assert all(re.fullmatch(r"HG-\d{4}", c) for c in codes)


def test_every_code_is_in_the_catalogue() -> None:
    text = DOCS.read_text()
    for cls in _all_classes():
        assert f"| {cls.code} | `{cls.__name__}` |" in text, (
            f"{cls.code} {cls.__name__} missing from docs/errors.md"
        )


@pytest.mark.parametrize("cls", [errors.QuorumLost, errors.AlreadyInCluster, errors.AuthenticationFailed])
def test_payload_round_trip_keeps_class_and_hint(cls: type[errors.HostgateError]) -> None:
    err = cls("something happened", hint="do this")
    back = errors.error_from_payload(err.to_payload(), err.http_status)
    assert type(back) is cls
    assert back.message == "something happened"
    assert back.hint == "do this"
    assert str(back).startswith(f"[{cls.code}]")


def test_unknown_code_becomes_remote_error_with_code_kept() -> None:
    back = errors.error_from_payload({"code": "HG-9999", "message": "new"}, 500)
    assert isinstance(back, errors.RemoteError)
    assert str(back) == "[HG-9999] new"


def test_non_hostgate_body_is_reported_not_raised_raw() -> None:
    back = errors.error_from_payload("<html>", 502)
    assert isinstance(back, errors.RemoteError)
    assert "502" in back.message


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>bad gateway</html>", b"[" * 100_000, b"\xff\xfe not text"],
    ids=["empty", "html", "nested-past-recursion", "not-utf8"],
)
def test_an_error_answer_that_is_not_a_hostgate_body_is_an_uncoded_http_error(content: bytes) -> None:
    """error_from_answer: what any client of a hostgate face turns an error answer into, body as received (a
    proxy's page, nothing, JSON nested past the parser's recursion limit)."""
    back = errors.error_from_answer(content, 502)
    assert isinstance(back, errors.RemoteError) and "HTTP 502" in back.message


def test_an_error_answer_with_a_hostgate_body_is_its_class() -> None:
    err = errors.PoolWaitTimeout("no session came free", hint="wait")
    back = errors.error_from_answer(json.dumps(err.to_payload()).encode(), err.http_status)
    assert type(back) is errors.PoolWaitTimeout and back.message == "no session came free"
