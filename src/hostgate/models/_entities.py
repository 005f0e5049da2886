"""Building entities (rules, attributes, operations, recordsets) with every check that needs only the
entity itself, the screen size and the names declared elsewhere in the model."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hostgate.models._reader import Issues, describe
from hostgate.models._yaml import YMap, YSeq
from hostgate.models.host import HostType
from hostgate.models.keys import HOST_KEYS, Key, parse_key
from hostgate.models.rules import CursorRule, RegexRule, Region, Rule, TextRule
from hostgate.models.spec import (
    Access,
    Attribute,
    Entity,
    FillStep,
    KeyStep,
    Operation,
    RecordField,
    Recordset,
    Step,
    TypeStep,
    ValueType,
    template_names,
)

__all__ = ["Scope", "build_entity", "build_key", "build_rules"]


@dataclass(frozen=True, slots=True)
class Scope:
    """What every part of the model may refer to: screen size, host type, declared names."""

    rows: int
    cols: int
    host_type: HostType | None
    entities: frozenset[str]
    variables: frozenset[str]

    @property
    def size(self) -> str:
        return f"{self.rows}x{self.cols}"


def _in_screen(issues: Issues, m: YMap, path: str, scope: Scope, row: int | None, col: int | None) -> bool:
    ok = True
    if row is not None and not 1 <= row <= scope.rows:
        issues.at(m, "row", f"{path}.row", f"{row} is outside the {scope.size} screen")
        ok = False
    if col is not None and not 1 <= col <= scope.cols:
        issues.at(m, "col", f"{path}.col", f"{col} is outside the {scope.size} screen")
        ok = False
    return ok


def build_key(issues: Issues, parent: YMap, key: str, path: str, scope: Scope) -> Key | None:
    value = parent.get(key)
    if not isinstance(value, str):
        issues.at(parent, key, path, f"must be a key name such as Enter or PF3, not {describe(value)}")
        return None
    found = parse_key(value)
    if found is None:
        issues.at(
            parent, key, path, f"{value!r} is not a key (Enter, Clear, PF1-PF24, PA1-PA3, Tab, PageDown, ...)"
        )
        return None
    if scope.host_type is not None and found not in HOST_KEYS[scope.host_type]:
        issues.at(parent, key, path, f"key {found.value} does not exist on a {scope.host_type.value} host")
        return None
    return found


def _region(
    issues: Issues, value: object, path: str, scope: Scope, parent: object, key: object
) -> Region | None:
    m = issues.mapping(value, path, parent, key)
    if m is None:
        return None
    issues.keys(m, path, required=("top", "bottom"), optional=("left", "right"))
    top = issues.integer(m, "top", path, low=1, high=scope.rows)
    bottom = issues.integer(m, "bottom", path, low=1, high=scope.rows)
    left = issues.integer(m, "left", path, 1, low=1, high=scope.cols)
    right = issues.integer(m, "right", path, scope.cols, low=1, high=scope.cols)
    if None in (top, bottom, left, right):
        return None
    assert top is not None and bottom is not None and left is not None and right is not None
    if top > bottom or left > right:
        issues.at(parent, key, path, f"is empty (top {top} > bottom {bottom} or left {left} > right {right})")
        return None
    return Region(top, left, bottom, right)


def _rule(issues: Issues, value: object, path: str, scope: Scope, parent: YSeq, index: int) -> Rule | None:
    m = issues.mapping(value, path, parent, index)
    if m is None:
        return None
    kinds = [k for k in ("text", "regex", "cursor") if k in m]
    if len(kinds) != 1:
        issues.at(parent, index, path, "a rule has exactly one of text, regex or cursor")
        return None
    kind = kinds[0]
    if kind == "cursor":
        issues.keys(m, path, required=("cursor",))
        cm = issues.mapping(m["cursor"], f"{path}.cursor", m, "cursor")
        if cm is None:
            return None
        issues.keys(cm, f"{path}.cursor", required=("row", "col"))
        row = issues.integer(cm, "row", f"{path}.cursor")
        col = issues.integer(cm, "col", f"{path}.cursor")
        if row is None or col is None or not _in_screen(issues, cm, f"{path}.cursor", scope, row, col):
            return None
        return CursorRule(row, col)
    region = None
    if "region" in m:
        region = _region(issues, m["region"], f"{path}.region", scope, m, "region")
    absent = issues.boolean(m, "absent", path, False)
    if kind == "regex":
        issues.keys(m, path, required=("regex",), optional=("region", "absent"))
        pattern = issues.text(m, "regex", path, empty=False)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                issues.at(m, "regex", f"{path}.regex", f"is not a valid regular expression: {exc}")
                return None
        if pattern is None or absent is None:
            return None
        return RegexRule(pattern, region, absent)
    issues.keys(m, path, required=("text",), optional=("row", "col", "region", "case_sensitive", "absent"))
    text = issues.text(m, "text", path, empty=False)
    row = issues.integer(m, "row", path)
    col = issues.integer(m, "col", path)
    case_sensitive = issues.boolean(m, "case_sensitive", path, True)
    if col is not None and row is None:
        issues.at(m, "col", f"{path}.col", "needs a row as well (the text is then expected exactly there)")
        return None
    if region is not None and row is not None:
        issues.at(m, "region", f"{path}.region", "give either row/col or a region, not both")
        return None
    if (
        not _in_screen(issues, m, path, scope, row, col)
        or text is None
        or case_sensitive is None
        or absent is None
    ):
        return None
    if col is not None and col + len(text) - 1 > scope.cols:
        issues.at(
            m, "text", f"{path}.text", f"ends at column {col + len(text) - 1}, past the {scope.size} screen"
        )
        return None
    return TextRule(text, row, col, region, case_sensitive, absent)


def build_rules(
    issues: Issues, value: object, path: str, scope: Scope, parent: object, key: object
) -> tuple[Rule, ...] | None:
    seq = issues.sequence(value, path, parent, key)
    if seq is None:
        return None
    if not seq:
        issues.at(parent, key, path, "needs at least one rule")
        return None
    rules = [_rule(issues, item, f"{path}[{i}]", scope, seq, i) for i, item in enumerate(seq)]
    return None if any(r is None for r in rules) else tuple(r for r in rules if r is not None)


def _attribute(
    issues: Issues, name: str, value: object, path: str, scope: Scope, parent: YMap
) -> Attribute | None:
    m = issues.mapping(value, path, parent, name)
    if m is None:
        return None
    issues.keys(
        m, path, required=("row", "col", "length"), optional=("access", "type", "hidden", "description")
    )
    row = issues.integer(m, "row", path)
    col = issues.integer(m, "col", path)
    length = issues.integer(m, "length", path, low=1)
    access = issues.choice(m, "access", path, Access, Access.READ)
    type_ = issues.choice(m, "type", path, ValueType, ValueType.STRING)
    hidden = issues.boolean(m, "hidden", path, False)
    description = issues.text(m, "description", path, "")
    inside = _in_screen(issues, m, path, scope, row, col)
    if inside and col is not None and length is not None and col + length - 1 > scope.cols:
        issues.at(
            m,
            "length",
            f"{path}.length",
            f"{length} runs past column {scope.cols} (the field ends at {col + length - 1})",
        )
        return None
    if not inside or None in (row, col, length, access, type_, hidden, description):
        return None
    assert (
        row is not None
        and col is not None
        and length is not None
        and access is not None
        and type_ is not None
    )
    return Attribute(name, row, col, length, access, type_, bool(hidden), description or "")


def _overlaps(issues: Issues, attributes: list[Attribute], path: str, m: YMap) -> None:
    """Two writable attributes on the same cells would overwrite each other's input."""
    writable = [a for a in attributes if a.access.writable]
    for i, a in enumerate(writable):
        for b in writable[i + 1 :]:
            if a.row == b.row and a.col <= b.end_col and b.col <= a.end_col:
                issues.at(
                    m,
                    b.name,
                    f"{path}.{b.name}",
                    f"overlaps writable attribute {a.name!r} (row {a.row}, columns {max(a.col, b.col)}-{min(a.end_col, b.end_col)})",
                )


def _step(
    issues: Issues,
    value: object,
    path: str,
    scope: Scope,
    seq: YSeq,
    index: int,
    attributes: dict[str, Attribute | None],
    names: frozenset[str],
) -> list[Step] | None:
    m = issues.mapping(value, path, seq, index)
    if m is None:
        return None
    kinds = [k for k in ("fill", "type", "key") if k in m]
    if len(kinds) != 1 or len(m) != 1:
        issues.at(seq, index, path, "a step is exactly one of fill: {attribute: value}, type: text, key: KEY")
        return None
    kind = kinds[0]
    if kind == "key":
        key = build_key(issues, m, "key", f"{path}.key", scope)
        return None if key is None else [KeyStep(key)]
    if kind == "type":
        text = issues.text(m, "type", path, empty=False)
        if text is None or not _refs_ok(issues, m, "type", f"{path}.type", text, names):
            return None
        return [TypeStep(text)]
    fills = issues.mapping(m["fill"], f"{path}.fill", m, "fill")
    if fills is None:
        return None
    steps: list[Step] = []
    ok = True
    for attr_name, template in fills.items():
        where = f"{path}.fill.{attr_name}"
        if attr_name not in attributes:
            known = ", ".join(attributes) or "none"
            issues.at(
                fills, attr_name, where, f"the entity has no attribute {attr_name!r} (attributes: {known})"
            )
            ok = False
            continue
        attribute = attributes[attr_name]
        if attribute is not None and not attribute.access.writable:
            issues.at(fills, attr_name, where, f"attribute {attr_name!r} is read-only (access: read)")
            ok = False
        if isinstance(template, int) and not isinstance(template, bool):
            template = str(template)
        if not isinstance(template, str):
            issues.at(
                fills, attr_name, where, f"must be text (a value or ${{name}}), not {describe(template)}"
            )
            ok = False
            continue
        if not _refs_ok(issues, fills, attr_name, where, template, names):
            ok = False
            continue
        steps.append(FillStep(attr_name, template))
    return steps if ok else None


def _refs_ok(issues: Issues, parent: YMap, key: str, path: str, template: str, names: frozenset[str]) -> bool:
    unknown = [n for n in template_names(template) if n not in names]
    for name in unknown:
        known = ", ".join(sorted(names)) or "none"
        issues.at(parent, key, path, f"${{{name}}} names no variable or parameter (known: {known})")
    return not unknown


def _operation(
    issues: Issues,
    name: str,
    value: object,
    path: str,
    scope: Scope,
    parent: YMap,
    attributes: dict[str, Attribute | None],
) -> Operation | None:
    m = issues.mapping(value, path, parent, name)
    if m is None:
        return None
    issues.keys(
        m, path, required=("steps", "destinations"), optional=("timeout", "parameters", "description")
    )
    timeout = issues.number(m, "timeout", path, 10.0)
    description = issues.text(m, "description", path, "")
    parameters: list[str] = []
    if "parameters" in m:
        pseq = issues.sequence(m["parameters"], f"{path}.parameters", m, "parameters")
        for i, p in enumerate(pseq or ()):
            if not isinstance(p, str) or not p.isidentifier():
                issues.at(pseq, i, f"{path}.parameters[{i}]", f"must be an identifier, not {describe(p)}")
            elif p in scope.variables:
                issues.at(pseq, i, f"{path}.parameters[{i}]", f"{p!r} is already a model variable")
            else:
                parameters.append(p)
    names = scope.variables | frozenset(parameters)
    steps: list[Step] = []
    ok = True
    seq = issues.sequence(m.get("steps"), f"{path}.steps", m, "steps") if "steps" in m else None
    if seq is not None:
        for i, item in enumerate(seq):
            built = _step(issues, item, f"{path}.steps[{i}]", scope, seq, i, attributes, names)
            ok = ok and built is not None
            steps.extend(built or ())
        if ok and (not steps or not isinstance(steps[-1], KeyStep)):
            issues.at(m, "steps", f"{path}.steps", "must end with a key step (the key that sends the screen)")
            ok = False
    destinations: list[str] = []
    dseq = (
        issues.sequence(m.get("destinations"), f"{path}.destinations", m, "destinations")
        if "destinations" in m
        else None
    )
    if dseq is not None:
        if not dseq:
            issues.at(m, "destinations", f"{path}.destinations", "needs at least one entity")
        for i, dest in enumerate(dseq):
            if not isinstance(dest, str) or dest not in scope.entities:
                known = ", ".join(sorted(scope.entities))
                issues.at(dseq, i, f"{path}.destinations[{i}]", f"no entity {dest!r} (entities: {known})")
                ok = False
            else:
                destinations.append(dest)
    if not ok or seq is None or dseq is None or not dseq or timeout is None or description is None:
        return None
    return Operation(name, tuple(steps), tuple(destinations), timeout, tuple(parameters), description)


def _recordset(
    issues: Issues, name: str, value: object, path: str, scope: Scope, parent: YMap
) -> Recordset | None:
    m = issues.mapping(value, path, parent, name)
    if m is None:
        return None
    issues.keys(
        m,
        path,
        required=("top", "bottom", "fields"),
        optional=("scroll_forward", "scroll_back", "end_of_data", "skip_blank"),
    )
    top = issues.integer(m, "top", path)
    bottom = issues.integer(m, "bottom", path)
    ok = True
    for key, row in (("top", top), ("bottom", bottom)):
        if row is not None and not 1 <= row <= scope.rows:
            issues.at(m, key, f"{path}.{key}", f"{row} is outside the {scope.size} screen")
            ok = False
    if ok and top is not None and bottom is not None and top > bottom:
        issues.at(m, "bottom", f"{path}.bottom", f"{bottom} is above top {top}")
        ok = False
    fields: list[RecordField] = []
    fm = issues.mapping(m.get("fields"), f"{path}.fields", m, "fields") if "fields" in m else None
    if fm is not None:
        issues.names(fm, f"{path}.fields", "field")
        if not fm:
            issues.at(m, "fields", f"{path}.fields", "needs at least one field")
            ok = False
        for fname, fvalue in fm.items():
            fpath = f"{path}.fields.{fname}"
            f = issues.mapping(fvalue, fpath, fm, fname)
            if f is None:
                ok = False
                continue
            issues.keys(f, fpath, required=("col", "length"), optional=("type",))
            col = issues.integer(f, "col", fpath)
            length = issues.integer(f, "length", fpath, low=1)
            type_ = issues.choice(f, "type", fpath, ValueType, ValueType.STRING)
            if col is not None and not 1 <= col <= scope.cols:
                issues.at(f, "col", f"{fpath}.col", f"{col} is outside the {scope.size} screen")
                col = None
            elif col is not None and length is not None and col + length - 1 > scope.cols:
                issues.at(f, "length", f"{fpath}.length", f"{length} runs past column {scope.cols}")
                col = None
            if col is None or length is None or type_ is None:
                ok = False
                continue
            fields.append(RecordField(str(fname), col, length, type_))
    forward = (
        build_key(issues, m, "scroll_forward", f"{path}.scroll_forward", scope)
        if "scroll_forward" in m
        else None
    )
    back = build_key(issues, m, "scroll_back", f"{path}.scroll_back", scope) if "scroll_back" in m else None
    ok = (
        ok
        and ("scroll_forward" not in m or forward is not None)
        and ("scroll_back" not in m or back is not None)
    )
    end: tuple[Rule, ...] = ()
    if "end_of_data" in m:
        built = build_rules(issues, m["end_of_data"], f"{path}.end_of_data", scope, m, "end_of_data")
        ok = ok and built is not None
        end = built or ()
    elif forward is not None:
        issues.at(
            m,
            "scroll_forward",
            f"{path}.end_of_data",
            "is required when scroll_forward is set (how is the last page known?)",
        )
        ok = False
    skip_blank = issues.boolean(m, "skip_blank", path, True)
    if not ok or top is None or bottom is None or fm is None or skip_blank is None:
        return None
    return Recordset(name, top, bottom, tuple(fields), forward, back, end, skip_blank)


def build_entity(
    issues: Issues, name: str, value: object, path: str, scope: Scope, parent: YMap
) -> Entity | None:
    m = issues.mapping(value, path, parent, name)
    if m is None:
        return None
    issues.keys(
        m, path, required=("rules",), optional=("attributes", "operations", "recordsets", "description")
    )
    description = issues.text(m, "description", path, "")
    rules = build_rules(issues, m["rules"], f"{path}.rules", scope, m, "rules") if "rules" in m else None
    attributes: dict[str, Attribute | None] = {}
    am = (
        issues.mapping(m["attributes"], f"{path}.attributes", m, "attributes")
        if "attributes" in m
        else YMap.empty()
    )
    ok = am is not None
    if am is not None:
        issues.names(am, f"{path}.attributes", "attribute")
        for aname, avalue in am.items():
            attributes[str(aname)] = _attribute(
                issues, str(aname), avalue, f"{path}.attributes.{aname}", scope, am
            )
        built_attrs = [a for a in attributes.values() if a is not None]
        _overlaps(issues, built_attrs, f"{path}.attributes", am)
        ok = ok and len(built_attrs) == len(attributes)
    operations: list[Operation] = []
    om = (
        issues.mapping(m["operations"], f"{path}.operations", m, "operations")
        if "operations" in m
        else YMap.empty()
    )
    if om is None:
        ok = False
    else:
        issues.names(om, f"{path}.operations", "operation")
        for oname, ovalue in om.items():
            op = _operation(issues, str(oname), ovalue, f"{path}.operations.{oname}", scope, om, attributes)
            ok = ok and op is not None
            operations.extend([op] if op else [])
    recordsets: list[Recordset] = []
    rm = (
        issues.mapping(m["recordsets"], f"{path}.recordsets", m, "recordsets")
        if "recordsets" in m
        else YMap.empty()
    )
    if rm is None:
        ok = False
    else:
        issues.names(rm, f"{path}.recordsets", "recordset")
        for rname, rvalue in rm.items():
            rs = _recordset(issues, str(rname), rvalue, f"{path}.recordsets.{rname}", scope, rm)
            ok = ok and rs is not None
            recordsets.extend([rs] if rs else [])
    if not ok or rules is None or description is None:
        return None
    return Entity(
        name,
        rules,
        tuple(a for a in attributes.values() if a is not None),
        tuple(operations),
        tuple(recordsets),
        description,
    )
