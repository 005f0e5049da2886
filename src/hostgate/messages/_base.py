"""The base of every wire message, and the one decoder both HTTP faces and the clients use.

Messages are msgspec Structs (chosen by measurement, bench/messages.py: decode + validate + encode of the route,
heartbeat and session messages is several times faster than pydantic v2 and than stdlib json + hand checks).
A request body is decoded and type-checked in ONE pass: a wrong field type, a missing field or an unknown
field refuses the body whole with ``InvalidField`` (HG-1011) naming the field by its path (``servers[2].port``),
before anything is changed. Range checks stay with the services (they know the limits).

This module imports only msgspec and ``hostgate.errors``: the connector imports it, so it must stay light.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import msgspec

from hostgate.errors import InvalidField, MalformedAnswer, UsageError

__all__ = [
    "Cell",
    "Message",
    "Reply",
    "decode_answer",
    "decode_request",
    "encode",
]

T = TypeVar("T")

# A value in a row or an attribute as it travels: decimals travel as strings (JSON numbers would lose digits).
Cell = str | int | float | bool | None


class Message(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A request body: frozen, and unknown fields are refused (a misspelt optional field must not be ignored)."""


class Reply(msgspec.Struct, frozen=True):
    """An answer body: frozen; a client ignores fields a newer server adds (rolling upgrades)."""


_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_LONGEST_PATH = 100
_NAMED = re.compile(r"(?:missing required|contains unknown) field `(?P<name>[^`]*)`")


def _field_path(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(``servers[2].port``, msgspec's reason) from msgspec's ``... - at `$.servers[2].port```."""
    found = _AT.match(str(exc))
    what = found["what"] if found else str(exc)
    path = (found["path"] if found else None) or ""
    named = _NAMED.search(what)
    if named:
        path = f"{path}.{named['name']}"
        what = "not a field of this message" if "unknown" in what else "missing (required)"
    path = path.lstrip(".")
    if len(path) > _LONGEST_PATH:  # a client's field name is echoed; a 1 MB one is not (issue #15)
        path = f"{path[:_LONGEST_PATH]}...({len(path)} characters)"
    return path, what


def _refusal(exc: msgspec.ValidationError) -> Exception:
    path, what = _field_path(exc)
    if not path:
        return UsageError("the request body must be a JSON object")
    return InvalidField(f"field {path!r}: {what}")


_decoders: dict[object, msgspec.json.Decoder[Any]] = {}


def _decoder(kind: object) -> msgspec.json.Decoder[Any]:
    # One decoder per type, built once: building one costs far more than a decode.
    found = _decoders.get(kind)
    if found is None:
        found = _decoders[kind] = msgspec.json.Decoder(kind)
    return found


def decode_request(raw: bytes, kind: type[T]) -> T:
    """The body ``raw`` as a ``kind`` (a Message), type-checked in one pass; an empty body is ``{}``.

    Raises ``InvalidField`` (HG-1011, naming the field) or ``UsageError`` (HG-1003: not JSON, not an object).
    """
    try:
        result: T = _decoder(kind).decode(raw or b"{}")
        return result
    except msgspec.ValidationError as exc:
        raise _refusal(exc) from None
    except (msgspec.DecodeError, RecursionError):
        pass
    # Not RFC 8259 JSON. Python's json module (hostgate's decoder before msgspec) also reads NaN and Infinity;
    # a heartbeat with "interval": NaN was answered HG-1011 by the range check naming the field, not "not JSON",
    # and scripts rely on that code. This slow path runs only for refused or unusual bodies.
    try:
        loose = json.loads(raw)
    except (ValueError, RecursionError):  # json raises RecursionError on deep nesting
        raise UsageError("the request body is not valid JSON (or is nested too deeply)") from None
    try:
        converted: T = msgspec.convert(loose, kind, strict=True)
        return converted
    except msgspec.ValidationError as exc:
        raise _refusal(exc) from None


def decode_answer(raw: bytes, kind: type[T], where: str) -> T:
    """A member's answer as a ``kind``; ``MalformedAnswer`` (HG-1050) naming the field when it is not one."""
    try:
        result: T = _decoder(kind).decode(raw)
        return result
    except msgspec.ValidationError as exc:
        path, what = _field_path(exc)
        raise MalformedAnswer(
            f"{where} answered with a malformed body: field {path or '(body)'!r}: {what}"
        ) from None
    except (msgspec.DecodeError, RecursionError):
        raise MalformedAnswer(f"{where} answered with a body that is not JSON") from None


_encoder = msgspec.json.Encoder()


def encode(message: object) -> bytes:
    """JSON bytes of a message (Structs, lists of them, plain JSON values); ``Decimal`` becomes a string."""
    return _encoder.encode(message)
