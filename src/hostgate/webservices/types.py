"""A procedure's inputs checked and typed from the catalog, for both faces (JSON values and SOAP text).

Column types are the model's: ``string``, ``integer``, ``decimal`` (decimals travel as strings so no digit is
lost, as everywhere in hostgate's messages). A body is refused whole (``InvalidField``, HG-1011, naming the
input) for an unknown input, a missing required one, or a value of the wrong type; nothing reaches the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hostgate.errors import InvalidField
from hostgate.messages import Cell
from hostgate.messages.catalog import ProcedureInfo

__all__ = ["DECIMAL_PATTERN", "INTEGER_LIMIT", "MAX_TEXT", "check_inputs", "check_text_inputs", "json_schema"]

DECIMAL_PATTERN = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$"
_DECIMAL = re.compile(DECIMAL_PATTERN)
_INTEGER = re.compile(r"^-?[0-9]{1,18}$")
# A terminal field is at most a screen wide; 4 KiB of text per input is more than any host field takes.
MAX_TEXT = 4096
INTEGER_LIMIT = 10**18 - 1


def json_schema(column_type: str, *, nullable: bool = False) -> dict[str, Any]:
    """The JSON Schema (2020-12, OpenAPI 3.1) of a value of ``column_type``."""
    schema: dict[str, Any]
    if column_type == "integer":
        schema = {"type": "integer", "minimum": -INTEGER_LIMIT, "maximum": INTEGER_LIMIT}
    elif column_type == "decimal":
        schema = {"type": "string", "pattern": DECIMAL_PATTERN}
    else:
        schema = {"type": "string", "maxLength": MAX_TEXT}
    if nullable:
        schema = {**schema, "type": [schema["type"], "null"]}
    return schema


def _bad(procedure: ProcedureInfo, name: str, why: str) -> InvalidField:
    return InvalidField(f"input {name[:80]!r} of procedure {procedure.name}: {why}")


def check_inputs(procedure: ProcedureInfo, values: Mapping[str, object]) -> dict[str, Cell]:
    """JSON inputs typed and checked; raises ``InvalidField`` for the first wrong one."""
    known = {i.column: i for i in procedure.inputs}
    out: dict[str, Cell] = {}
    for name, value in values.items():
        info = known.get(name)
        if info is None:
            raise _bad(procedure, name, "not an input of this procedure")
        if value is None:
            if info.required:
                raise _bad(procedure, name, "required, got null")
            continue
        if info.type == "integer":
            if not isinstance(value, int) or isinstance(value, bool) or abs(value) > INTEGER_LIMIT:
                raise _bad(procedure, name, f"expected an integer, got {_shown(value)}")
        elif info.type == "decimal":
            if not isinstance(value, str) or not _DECIMAL.match(value):
                raise _bad(procedure, name, f"expected a decimal as a string ('12.50'), got {_shown(value)}")
        elif not isinstance(value, str) or len(value) > MAX_TEXT:
            raise _bad(
                procedure, name, f"expected a string of at most {MAX_TEXT} characters, got {_shown(value)}"
            )
        out[name] = value
    _required(procedure, out)
    return out


def check_text_inputs(procedure: ProcedureInfo, values: Mapping[str, str]) -> dict[str, Cell]:
    """SOAP inputs (element text) typed and checked, as ``check_inputs``."""
    typed: dict[str, object] = {}
    for name, text in values.items():
        info = next((i for i in procedure.inputs if i.column == name), None)
        if info is not None and info.type == "integer":
            text = text.strip()
            if not _INTEGER.match(text):
                raise _bad(procedure, name, f"expected an integer, got {_shown(text)}")
            typed[name] = int(text)
        elif info is not None and info.type == "decimal":
            typed[name] = text.strip()
        else:
            typed[name] = text
    return check_inputs(procedure, typed)


def _required(procedure: ProcedureInfo, values: Mapping[str, Cell]) -> None:
    for info in procedure.inputs:
        if info.required and info.column not in values:
            raise _bad(procedure, info.column, "required, missing")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."
