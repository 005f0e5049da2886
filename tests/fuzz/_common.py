"""What the fuzz tests of both HTTP faces share: hostile values, request shapes, and the checks every answer
must pass (issue #15, "fuzzing that keeps it fixed").

The faces are driven in process (``httpx.ASGITransport`` over the real Starlette apps), one request per
hypothesis example, on one event loop that the test owns (the store and its copy live on it). The number of
examples is ``HOSTGATE_FUZZ_EXAMPLES`` (default: a short run that fits ``make test``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import strategies as st

__all__ = [
    "EXAMPLES",
    "NUMBERS",
    "TEXT",
    "Fuzzed",
    "LogTrap",
    "check_answer",
    "header_values",
    "hostile_values",
    "json_bodies",
    "path_params",
]

# Short in `make test` (the suite runs on a loaded 2-core machine); raise it for long runs.
EXAMPLES = int(os.environ.get("HOSTGATE_FUZZ_EXAMPLES", "0") or 0) or 150

_CODE = re.compile(r"HG-\d{4}")

# Numbers a JSON parser accepts and a handler may not expect: huge, tiny, negative zero, and Python's json
# literals NaN/Infinity (json.loads accepts them; JSON itself does not, RFC 8259 section 6).
NUMBERS = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 5e-324]),
)

TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "admin",
            "s1",
            "m",
            "prod",
            "../../etc/passwd",
            "a..b",
            # Wildcard addresses are hostile *values* sent in bodies (validation refuses them, HG-3004);
            # nothing binds to them.
            "0.0.0.0",
            "::",
            "127.0.0.1",
            "\x00",
            "é\u202e\ufeff",
            "%s%n{0}",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        ]
    ),
    st.integers(min_value=1, max_value=200_000).map(lambda n: "x" * n),
)


def hostile_values(depth: int = 3) -> st.SearchStrategy[Any]:
    """Any JSON value, biased towards what breaks handlers: wrong types, NaN, huge numbers, odd text."""
    scalars = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=depth * 4,
    )


def json_bodies(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes | None]:
    """A request body: none, garbage bytes, deep nesting, any JSON, or the route's fields (each a value of
    the right type or a hostile one; some left out) plus an unknown field or two."""
    shaped = st.fixed_dictionaries(
        {},
        optional={name: st.one_of(right, hostile_values()) for name, right in fields.items()},
    ).flatmap(
        lambda d: st.dictionaries(st.text(max_size=8), hostile_values(), max_size=2).map(
            lambda extra: {**extra, **d}
        )
    )
    garbage = st.one_of(
        st.none(),
        st.binary(max_size=64),
        st.sampled_from(
            [
                b"",
                b"{",
                b"null",
                b"[]",
                b'"x"',
                b"NaN",
                b'{"a": Infinity}',
                b"\xff\xfe{}",
                b"[" * 100_000 + b"]" * 100_000,
                b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
            ]
        ),
        hostile_values().map(_dump),
    )
    # Half the bodies have the route's shape, so that they get past "the body must be a JSON object".
    return st.one_of(garbage, shaped.map(_dump))


def _dump(value: Any) -> bytes:
    # allow_nan (the default) writes NaN/Infinity literals: the point is to send them.
    return json.dumps(value).encode()


def path_params(known: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A path parameter, already percent-encoded where needed: known names, random text, traversal."""
    raw = st.one_of(st.sampled_from(known), TEXT.filter(lambda s: len(s) < 5_000))
    return st.one_of(
        raw.map(lambda s: quote(s, safe="") or "x"),
        st.sampled_from(["%2F", "%00", "..", "%2e%2e", "%ZZ", "a%20b", "%C3%28"]),
    )


# Header values as bytes: anything an HTTP/1.1 parser lets through (no CR, LF, NUL), latin-1 included.
_HEADER_BYTES = st.binary(max_size=200).map(
    lambda b: bytes(c for c in b if c not in (0, 10, 13)).strip(b" \t")
)


def header_values(samples: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    fixed = [st.sampled_from([s.encode() for s in samples])] if samples else []
    return st.one_of(
        *fixed,
        st.text(alphabet=string.printable.strip(), max_size=200).map(str.encode),
        _HEADER_BYTES,
    )


@dataclass(repr=False)
class Fuzzed:
    """One generated request."""

    method: str
    path: str
    headers: dict[str, bytes] = field(default_factory=dict)
    body: bytes | None = None

    def __repr__(self) -> str:
        # Short enough to read in a failure report (a body may be 200 kB of brackets); still code that
        # rebuilds the request when nothing was cut, to paste into @example.
        def cut(value: object) -> str:
            text = repr(value)
            return text if len(text) <= 2_000 else f"{text[:2_000]}...<{len(text)} chars>"

        return f"Fuzzed({self.method!r}, {cut(self.path)}, {cut(self.headers)}, {cut(self.body)})"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class LogTrap:
    """Every log record of the app (root logger, DEBUG), to assert that no traceback was logged."""

    def __init__(self) -> None:
        self._handler = _Records()

    @contextmanager
    def installed(self) -> Iterator[LogTrap]:
        root = logging.getLogger()
        level = root.level
        root.addHandler(self._handler)
        root.setLevel(logging.DEBUG)
        try:
            yield self
        finally:
            root.removeHandler(self._handler)
            root.setLevel(level)

    def take(self) -> list[logging.LogRecord]:
        taken, self._handler.records = self._handler.records, []
        return taken


def _with_traceback(records: list[logging.LogRecord]) -> list[str]:
    out = []
    for r in records:
        text = r.getMessage()
        if r.exc_info is not None or "Traceback" in text or 'File "' in text:
            out.append(f"{r.name} {r.levelname}: {text} {r.exc_info[1] if r.exc_info else ''!r}")
    return out


def check_answer(
    fuzzed: Fuzzed, resp: httpx.Response, identity: dict[str, str], logged: list[logging.LogRecord]
) -> None:
    """The contract of both faces, for every answer (docs/architecture.md, "HTTP faces")."""
    what = f"{fuzzed.method} {fuzzed.path[:200]} -> {resp.status_code} {resp.text[:300]!r}"
    assert "Traceback" not in resp.text and 'File "' not in resp.text, what
    for name, value in identity.items():
        assert resp.headers.get(name) == value, f"{name} missing: {what}"
    request_id = resp.headers.get("x-request-id")
    assert request_id, f"X-Request-Id missing: {what}"
    if resp.status_code >= 400:
        try:
            body = resp.json()
        except ValueError:
            raise AssertionError(f"error answer is not JSON: {what}") from None
        assert isinstance(body, dict), what
        code = body.get("code")
        assert isinstance(code, str) and _CODE.fullmatch(code), f"uncoded error: {what}"
        assert code != "HG-1000", f"internal error (a bug): {what}"
        assert body.get("request_id") == request_id, f"request_id: {what}"
        if resp.status_code == 429:
            assert resp.headers.get("retry-after"), what
    assert resp.status_code < 500 or resp.status_code in (501, 503, 504), f"5xx: {what}"
    tracebacks = _with_traceback(logged)
    assert not tracebacks, f"traceback logged for {what}: {tracebacks}"
