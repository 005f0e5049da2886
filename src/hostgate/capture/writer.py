"""The model file a capture writes, and reading one back to add to it (``--resume``).

The writer serialises a :class:`~hostgate.models.Model` (what the engine builds from its drafts, or what
:func:`resume` loaded) to YAML in the samples' shape: block mappings for the structure, one flow mapping per
rule, attribute, step and field, keys in a fixed order, so the same capture always gives the same bytes
(diffable, reviewable). Each entity may carry a comment (which screen it came from and when); a resumed model
keeps the comment lines directly above each of its entities. Other comments of a resumed file are not kept:
PyYAML drops comments, and a round-trip YAML library is not among hostgate's dependencies (docs/models.md says
so).

Secrets: a hidden variable is written without its default, whatever the model holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hostgate.errors import ModelError
from hostgate.models import (
    KNOWN_TERMINALS,
    Attribute,
    CursorRule,
    Entity,
    FillStep,
    HostSpec,
    HostType,
    KeyStep,
    Model,
    Operation,
    Procedure,
    Recordset,
    RegexRule,
    Region,
    Rule,
    Table,
    TypeStep,
    ValueType,
    load_model,
)

__all__ = ["Resumed", "dump_model", "entity_notes", "resume"]

_INDENT = "  "


@dataclass(frozen=True, slots=True)
class Resumed:
    """A model read back for ``--resume``: the model, and the comment above each of its entities."""

    model: Model
    notes: Mapping[str, str] = field(default_factory=dict)
    path: str = ""


def resume(path: Path) -> Resumed:
    """Load ``path`` (validated whole: ModelError HG-6001 / ModelSyntaxError HG-6002 as ``model check``)
    with the comments written above its entities."""
    model = load_model(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:  # load_model read it a moment ago: a race, still coded
        raise ModelError(f"cannot read model file {path}: {exc}") from exc
    return Resumed(model, entity_notes(text, [e.name for e in model.entities]), str(path))


def entity_notes(text: str, names: list[str]) -> dict[str, str]:
    """The comment lines directly above each entity's key in a model file's ``entities:`` section."""
    notes: dict[str, str] = {}
    lines = text.splitlines()
    wanted = set(names)
    in_entities = False
    for i, line in enumerate(lines):
        if re.match(r"^entities:\s*(#.*)?$", line):
            in_entities = True
            continue
        if in_entities and re.match(r"^\S", line) and not line.startswith("#"):
            in_entities = False
        found = re.match(r"^  ([A-Za-z_][A-Za-z0-9_]*):\s*(#.*)?$", line) if in_entities else None
        if found is None or found.group(1) not in wanted:
            continue
        comment: list[str] = []
        j = i - 1
        while j >= 0 and re.match(r"^\s*#", lines[j]):
            comment.insert(0, lines[j].strip()[1:].strip())
            j -= 1
        if comment:
            notes[found.group(1)] = "\n".join(comment)
    return notes


# -- scalars and flow mappings ------------------------------------------------------------------------------
def _flow(value: object) -> str:
    """One value in YAML flow style on one line (PyYAML quotes what it must, e.g. "3270", "no", ": ")."""
    text: str = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, width=2**31, allow_unicode=True
    )
    text = text.rstrip("\n")
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    return text


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _region(region: Region, rows: int, cols: int) -> dict[str, int]:
    out = {"top": region.top, "bottom": region.bottom}
    if region.left != 1 or region.right != cols:
        out |= {"left": region.left, "right": region.right}
    return out


def rule_mapping(rule: Rule, rows: int, cols: int) -> dict[str, Any]:
    if isinstance(rule, CursorRule):
        return {"cursor": {"row": rule.row, "col": rule.col}}
    if isinstance(rule, RegexRule):
        out: dict[str, Any] = {"regex": rule.regex}
        if rule.region is not None:
            out["region"] = _region(rule.region, rows, cols)
        if rule.absent:
            out["absent"] = True
        return out
    text: dict[str, Any] = {"text": rule.text}
    if rule.row is not None:
        text["row"] = rule.row
    if rule.col is not None:
        text["col"] = rule.col
    if rule.region is not None:
        text["region"] = _region(rule.region, rows, cols)
    if not rule.case_sensitive:
        text["case_sensitive"] = False
    if rule.absent:
        text["absent"] = True
    return text


def _attribute(a: Attribute) -> dict[str, Any]:
    out: dict[str, Any] = {"row": a.row, "col": a.col, "length": a.length}
    if a.access.value != "read":
        out["access"] = a.access.value
    if a.type is not ValueType.STRING:
        out["type"] = a.type.value
    if a.hidden:
        out["hidden"] = True
    if a.description:
        out["description"] = a.description
    return out


def _step(step: FillStep | TypeStep | KeyStep) -> dict[str, Any]:
    if isinstance(step, FillStep):
        return {"fill": {step.attribute: step.value}}
    if isinstance(step, TypeStep):
        return {"type": step.text}
    return {"key": step.key.value}


# -- the document -------------------------------------------------------------------------------------------
class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, depth: int, text: str) -> None:
        self.lines.append(f"{_INDENT * depth}{text}")

    def comment(self, depth: int, text: str) -> None:
        for part in text.splitlines() or [""]:
            self.line(depth, f"# {part}".rstrip())

    def flow(self, depth: int, key: str, value: object) -> None:
        self.line(depth, f"{_flow(key)}: {_flow(value)}")


def _host(out: _Out, spec: HostSpec) -> None:
    out.line(0, "host:")
    out.flow(1, "type", spec.type.value)
    out.flow(1, "address", spec.address)
    out.flow(1, "port", spec.port)
    known = KNOWN_TERMINALS[spec.type].get(spec.terminal.type)
    if known == (spec.terminal.rows, spec.terminal.cols):
        out.flow(1, "terminal", spec.terminal.type)
    else:
        t = spec.terminal
        out.flow(1, "terminal", {"type": t.type, "rows": t.rows, "cols": t.cols})
    default_encoding = "utf8" if spec.type is HostType.VT else "cp037"
    if spec.encoding != default_encoding:
        out.flow(1, "encoding", spec.encoding)
    if spec.tls:
        out.flow(1, "tls", True)
    if not spec.tls_verify:
        out.flow(1, "tls_verify", False)
    if spec.tls_ca_file:
        out.flow(1, "tls_ca_file", spec.tls_ca_file)
    out.flow(1, "connect_timeout", _number(spec.connect_timeout))


def _operation(out: _Out, op: Operation) -> None:
    out.line(3, f"{op.name}:")
    if op.description:
        out.flow(4, "description", op.description)
    if op.parameters:
        out.flow(4, "parameters", list(op.parameters))
    out.line(4, "steps:")
    for step in op.steps:
        out.line(5, f"- {_flow(_step(step))}")
    out.flow(4, "destinations", list(op.destinations))
    if op.timeout != 10.0:
        out.flow(4, "timeout", _number(op.timeout))


def _recordset(out: _Out, rs: Recordset, rows: int, cols: int) -> None:
    out.line(3, f"{rs.name}:")
    out.flow(4, "top", rs.top)
    out.flow(4, "bottom", rs.bottom)
    out.line(4, "fields:")
    for f in rs.fields:
        spec: dict[str, Any] = {"col": f.col, "length": f.length}
        if f.type is not ValueType.STRING:
            spec["type"] = f.type.value
        out.flow(5, f.name, spec)
    if rs.scroll_forward is not None:
        out.flow(4, "scroll_forward", rs.scroll_forward.value)
    if rs.scroll_back is not None:
        out.flow(4, "scroll_back", rs.scroll_back.value)
    if rs.end_of_data:
        out.line(4, "end_of_data:")
        for rule in rs.end_of_data:
            out.line(5, f"- {_flow(rule_mapping(rule, rows, cols))}")
    if not rs.skip_blank:
        out.flow(4, "skip_blank", False)


def _entity(out: _Out, e: Entity, note: str, rows: int, cols: int) -> None:
    out.lines.append("")
    if note:
        out.comment(1, note)
    out.line(1, f"{e.name}:")
    if e.description:
        out.flow(2, "description", e.description)
    out.line(2, "rules:")
    for rule in e.rules:
        out.line(3, f"- {_flow(rule_mapping(rule, rows, cols))}")
    if e.attributes:
        out.line(2, "attributes:")
        for a in e.attributes:
            out.flow(3, a.name, _attribute(a))
    if e.recordsets:
        out.line(2, "recordsets:")
        for rs in e.recordsets:
            _recordset(out, rs, rows, cols)
    if e.operations:
        out.line(2, "operations:")
        for op in e.operations:
            _operation(out, op)


def _table(out: _Out, table: Table, procedures: tuple[Procedure, ...]) -> None:
    out.line(1, f"{table.name}:")
    if table.description:
        out.flow(2, "description", table.description)
    out.line(2, "columns:")
    for c in table.columns:
        if c.description:
            out.flow(3, c.name, {"type": c.type.value, "description": c.description})
        else:
            out.flow(3, c.name, c.type.value)
    if not procedures:
        return
    out.line(2, "procedures:")
    for p in procedures:
        out.line(3, f"{p.name}:")
        out.flow(4, "type", p.type.value)
        if p.description:
            out.flow(4, "description", p.description)
        if p.inputs:
            out.flow(4, "inputs", {i.column: {"required": i.required} for i in p.inputs})
        if p.outputs:
            out.flow(4, "outputs", list(p.outputs))
        out.line(4, "steps:")
        for s in p.steps:
            step: dict[str, Any] = {"entity": s.entity}
            if s.fill:
                step["fill"] = {f.attribute: f.value for f in s.fill}
            if s.recordset is not None:
                step["recordset"] = s.recordset
            if s.outputs:
                step["outputs"] = {o.column: o.source for o in s.outputs}
            if s.operation is not None:
                step["operation"] = s.operation
            out.line(5, f"- {_flow(step)}")


def dump_model(model: Model, *, notes: Mapping[str, str] | None = None, header: str = "") -> str:
    """``model`` as YAML text that :func:`hostgate.models.load_model` reads back to an equal model (hidden
    variables lose their default: it is a secret). ``notes``: a comment above each entity, by name."""
    notes = notes or {}
    out = _Out()
    if header:
        out.comment(0, header)
    out.flow(0, "format_version", model.format_version)
    out.flow(0, "name", model.name)
    if model.description:
        out.flow(0, "description", model.description)
    out.lines.append("")
    _host(out, model.host)
    if model.variables:
        out.lines.append("")
        out.line(0, "variables:")
        for v in model.variables:
            spec: dict[str, Any] = {}
            if v.hidden:
                spec["hidden"] = True  # never its default: a secret stays out of the file
            else:
                spec["default"] = v.default
            if v.description:
                spec["description"] = v.description
            out.flow(1, v.name, spec)
    nav = model.navigation
    out.lines.append("")
    out.line(0, "navigation:")
    out.flow(1, "start", nav.start)
    if nav.home is not None:
        out.flow(1, "home", nav.home)
    if nav.sign_on:
        out.flow(1, "sign_on", [str(r) for r in nav.sign_on])
    if nav.sign_off:
        out.flow(1, "sign_off", [str(r) for r in nav.sign_off])
    out.lines.append("")
    out.line(0, "entities:")
    rows, cols = model.host.terminal.rows, model.host.terminal.cols
    for e in model.entities:
        _entity(out, e, notes.get(e.name, ""), rows, cols)
    if model.tables:
        out.lines.append("")
        out.line(0, "tables:")
        for t in model.tables:
            _table(out, t, model.procedures_of(t.name))
    return "\n".join(out.lines) + "\n"
