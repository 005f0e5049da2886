"""Navigation (start, home, sign-on/off chains), tables and procedures: the parts of a model that refer
across entities. They are checked against the entities as declared in the document."""

from __future__ import annotations

from hostgate.models._entities import Scope
from hostgate.models._reader import Issues, describe
from hostgate.models._yaml import YMap, YSeq
from hostgate.models.spec import (
    Access,
    Column,
    FillStep,
    Navigation,
    OperationRef,
    OutputMap,
    Procedure,
    ProcedureInput,
    ProcedureStep,
    ProcedureType,
    Table,
    ValueType,
    template_names,
)

__all__ = ["build_navigation", "build_tables"]

Declared = dict[str, YMap]


def _part(declared: Declared, entity: str, part: str) -> YMap:
    value = declared.get(entity, YMap.empty()).get(part)
    return value if isinstance(value, YMap) else YMap.empty()


def _destinations(declared: Declared, entity: str, operation: str) -> set[str] | None:
    """The declared destinations of an operation, or None if they cannot be read (already reported)."""
    op = _part(declared, entity, "operations").get(operation)
    dests = op.get("destinations") if isinstance(op, YMap) else None
    if not isinstance(dests, list):
        return None
    return {d for d in dests if isinstance(d, str)}


def _known(names: object) -> str:
    listed = sorted(str(n) for n in names) if isinstance(names, dict | set | frozenset | list) else []
    return ", ".join(listed) or "none"


def _entity_ref(issues: Issues, parent: YMap, key: str, path: str, declared: Declared) -> str | None:
    value = parent.get(key)
    if not isinstance(value, str) or value not in declared:
        issues.at(parent, key, path, f"no entity {value!r} (entities: {_known(declared)})")
        return None
    return value


def _op_ref(issues: Issues, seq: YSeq, index: int, path: str, declared: Declared) -> OperationRef | None:
    value = seq[index]
    if not isinstance(value, str) or value.count(".") != 1:
        issues.at(seq, index, path, f"must be Entity.operation, not {describe(value)}")
        return None
    entity, operation = value.split(".")
    if entity not in declared:
        issues.at(seq, index, path, f"no entity {entity!r} (entities: {_known(declared)})")
        return None
    ops = _part(declared, entity, "operations")
    if operation not in ops:
        issues.at(
            seq, index, path, f"entity {entity!r} has no operation {operation!r} (operations: {_known(ops)})"
        )
        return None
    return OperationRef(entity, operation)


def _chain(
    issues: Issues, refs: list[OperationRef], seq: YSeq, path: str, first: str | None, declared: Declared
) -> None:
    """Each operation must run on a screen the previous one can lead to; the first on ``first``."""
    expected: set[str] | None = {first} if first else None
    for i, ref in enumerate(refs):
        if expected is not None and ref.entity not in expected:
            issues.at(
                seq,
                i,
                f"{path}[{i}]",
                f"runs on {ref.entity}, but the session is then on {' or '.join(sorted(expected))}",
            )
        expected = _destinations(declared, ref.entity, ref.operation)


def build_navigation(issues: Issues, root: YMap, scope: Scope, declared: Declared) -> Navigation | None:
    m = issues.mapping(root["navigation"], "navigation", root, "navigation")
    if m is None:
        return None
    issues.keys(m, "navigation", required=("start",), optional=("home", "sign_on", "sign_off"))
    start = _entity_ref(issues, m, "start", "navigation.start", declared) if "start" in m else None
    home = _entity_ref(issues, m, "home", "navigation.home", declared) if "home" in m else None
    chains: dict[str, tuple[OperationRef, ...]] = {}
    ok = start is not None and ("home" not in m or home is not None)
    for key, first in (("sign_on", start), ("sign_off", home)):
        if key not in m:
            chains[key] = ()
            continue
        seq = issues.sequence(m[key], f"navigation.{key}", m, key)
        if seq is None:
            ok = False
            continue
        refs = [_op_ref(issues, seq, i, f"navigation.{key}[{i}]", declared) for i in range(len(seq))]
        if any(r is None for r in refs):
            ok = False
            continue
        built = [r for r in refs if r is not None]
        _chain(issues, built, seq, f"navigation.{key}", first, declared)
        if key == "sign_on" and built and home is not None:
            last = _destinations(declared, built[-1].entity, built[-1].operation)
            if last is not None and home not in last:
                issues.at(
                    seq,
                    len(seq) - 1,
                    f"navigation.sign_on[{len(seq) - 1}]",
                    f"does not lead to the home entity {home!r}",
                )
        chains[key] = tuple(built)
    if not ok or start is None:
        return None
    return Navigation(start, home, chains["sign_on"], chains["sign_off"])


def _columns(issues: Issues, value: object, path: str, parent: YMap) -> tuple[Column, ...] | None:
    m = issues.mapping(value, path, parent, "columns")
    if m is None:
        return None
    if not m:
        issues.at(parent, "columns", path, "needs at least one column")
        return None
    issues.names(m, path, "column")
    columns: list[Column] = []
    seen: set[str] = set()
    for name, spec in m.items():
        cpath = f"{path}.{name}"
        if str(name).lower() in seen:
            issues.at(m, name, cpath, "differs from another column only by case (SQL names ignore case)")
            continue
        seen.add(str(name).lower())
        if spec is None or isinstance(spec, str):
            holder = YMap.empty(m.lines.get(name, m.line))
            if spec is not None:
                holder["type"] = spec
            spec_map: YMap | None = holder
        else:
            spec_map = issues.mapping(spec, cpath, m, name)
        if spec_map is None:
            continue
        issues.keys(spec_map, cpath, optional=("type", "description"))
        type_ = issues.choice(spec_map, "type", cpath, ValueType, ValueType.STRING)
        description = issues.text(spec_map, "description", cpath, "")
        if type_ is not None and description is not None:
            columns.append(Column(str(name), type_, description))
    return tuple(columns) if len(columns) == len(m) else None


class _ProcedureReader:
    """Reads one procedure: its inputs and outputs against the table, its path against the entities."""

    def __init__(
        self,
        issues: Issues,
        scope: Scope,
        declared: Declared,
        table: str,
        columns: set[str],
        home: str | None,
    ) -> None:
        self.issues = issues
        self.scope = scope
        self.declared = declared
        self.table = table
        self.columns = columns
        self.home = home

    def column(self, parent: object, key: object, path: str, name: object) -> str | None:
        if not isinstance(name, str) or name not in self.columns:
            self.issues.at(
                parent,
                key,
                path,
                f"table {self.table!r} has no column {name!r} (columns: {_known(self.columns)})",
            )
            return None
        return name

    def read(self, name: str, value: object, path: str, parent: YMap) -> Procedure | None:
        issues = self.issues
        m = issues.mapping(value, path, parent, name)
        if m is None:
            return None
        issues.keys(m, path, required=("type", "steps"), optional=("inputs", "outputs", "description"))
        type_ = issues.choice(m, "type", path, ProcedureType)
        description = issues.text(m, "description", path, "")
        inputs = self.inputs(m, path)
        outputs = self.outputs(m, path)
        ok = type_ is not None and description is not None and inputs is not None and outputs is not None
        if type_ is ProcedureType.SELECT and outputs is not None and not outputs:
            issues.at(m, "outputs", f"{path}.outputs", "a select procedure needs at least one output column")
            ok = False
        if type_ is not None and type_ is not ProcedureType.SELECT and inputs is not None and not inputs:
            issues.at(m, "inputs", f"{path}.inputs", f"an {type_.value} procedure needs input columns")
            ok = False
        steps = self.steps(m, path, inputs or (), outputs or ())
        if not ok or steps is None:
            return None
        assert type_ is not None and inputs is not None and outputs is not None and description is not None
        return Procedure(name, self.table, type_, steps, inputs, outputs, description)

    def inputs(self, m: YMap, path: str) -> tuple[ProcedureInput, ...] | None:
        if "inputs" not in m:
            return ()
        im = self.issues.mapping(m["inputs"], f"{path}.inputs", m, "inputs")
        if im is None:
            return None
        found: list[ProcedureInput] = []
        for col, spec in im.items():
            ipath = f"{path}.inputs.{col}"
            if self.column(im, col, ipath, col) is None:
                continue
            required: bool | None = False
            if spec is not None:
                sm = self.issues.mapping(spec, ipath, im, col)
                if sm is None:
                    continue
                self.issues.keys(sm, ipath, optional=("required",))
                required = self.issues.boolean(sm, "required", ipath, False)
            if required is not None:
                found.append(ProcedureInput(str(col), required))
        return tuple(found) if len(found) == len(im) else None

    def outputs(self, m: YMap, path: str) -> tuple[str, ...] | None:
        if "outputs" not in m:
            return ()
        seq = self.issues.sequence(m["outputs"], f"{path}.outputs", m, "outputs")
        if seq is None:
            return None
        found = [self.column(seq, i, f"{path}.outputs[{i}]", c) for i, c in enumerate(seq)]
        return tuple(c for c in found if c) if all(found) else None

    def steps(
        self, m: YMap, path: str, inputs: tuple[ProcedureInput, ...], outputs: tuple[str, ...]
    ) -> tuple[ProcedureStep, ...] | None:
        issues = self.issues
        seq = issues.sequence(m.get("steps"), f"{path}.steps", m, "steps") if "steps" in m else None
        if seq is None:
            return None
        if not seq:
            issues.at(m, "steps", f"{path}.steps", "needs at least one step")
            return None
        names = self.scope.variables | {i.column for i in inputs}
        built: list[ProcedureStep] = []
        expected: set[str] | None = {self.home} if self.home else None
        ok = True
        for i, item in enumerate(seq):
            spath = f"{path}.steps[{i}]"
            step = self.step(item, spath, seq, i, names)
            if step is None:
                ok = False
                expected = None
                continue
            if expected is not None and step.entity not in expected:
                on = " or ".join(sorted(expected))
                where = (
                    f"procedures start on the home entity {on}"
                    if i == 0
                    else f"the previous step leaves the session on {on}"
                )
                issues.at(seq, i, f"{spath}.entity", f"is {step.entity}, but {where}")
                ok = False
            expected = (
                _destinations(self.declared, step.entity, step.operation) if step.operation else {step.entity}
            )
            built.append(step)
        if not ok:
            return None
        mapped = [o.column for s in built for o in s.outputs]
        for col in outputs:
            if col not in mapped:
                issues.at(m, "outputs", f"{path}.outputs", f"column {col!r} is never read by a step")
                ok = False
        for i, step in enumerate(built):
            for out in step.outputs:
                if out.column not in outputs:
                    issues.at(
                        seq,
                        i,
                        f"{path}.steps[{i}].outputs.{out.column}",
                        "is read but is not among the procedure's outputs",
                    )
                    ok = False
        sent = {n for s in built for f in s.fill for n in template_names(f.value)}
        sent |= {p for s in built if s.operation for p in self._parameters(s.entity, s.operation)}
        for inp in inputs:
            if inp.column not in sent:
                issues.at(
                    m, "inputs", f"{path}.inputs.{inp.column}", "is never sent to the host (no fill uses it)"
                )
                ok = False
        return tuple(built) if ok else None

    def _parameters(self, entity: str, operation: str) -> list[str]:
        op = _part(self.declared, entity, "operations").get(operation)
        params = op.get("parameters") if isinstance(op, YMap) else None
        return [p for p in params if isinstance(p, str)] if isinstance(params, list) else []

    def step(
        self, value: object, path: str, seq: YSeq, index: int, names: frozenset[str] | set[str]
    ) -> ProcedureStep | None:
        issues = self.issues
        m = issues.mapping(value, path, seq, index)
        if m is None:
            return None
        issues.keys(m, path, required=("entity",), optional=("fill", "recordset", "outputs", "operation"))
        entity = _entity_ref(issues, m, "entity", f"{path}.entity", self.declared) if "entity" in m else None
        if entity is None:
            return None
        ok = True
        attributes = _part(self.declared, entity, "attributes")
        fills: list[FillStep] = []
        if "fill" in m:
            fm = issues.mapping(m["fill"], f"{path}.fill", m, "fill")
            ok = fm is not None
            for attr, template in (fm or {}).items():
                fpath = f"{path}.fill.{attr}"
                raw = attributes.get(attr)
                if not isinstance(raw, YMap):
                    issues.at(
                        fm,
                        attr,
                        fpath,
                        f"entity {entity!r} has no attribute {attr!r} (attributes: {_known(attributes)})",
                    )
                    ok = False
                    continue
                if raw.get("access", Access.READ.value) == Access.READ.value:
                    issues.at(fm, attr, fpath, f"attribute {attr!r} is read-only (access: read)")
                    ok = False
                if not isinstance(template, str):
                    issues.at(
                        fm, attr, fpath, f"must be text (a value or ${{column}}), not {describe(template)}"
                    )
                    ok = False
                    continue
                unknown = [n for n in template_names(template) if n not in names]
                for n in unknown:
                    issues.at(
                        fm,
                        attr,
                        fpath,
                        f"${{{n}}} is neither an input column of the procedure nor a model variable",
                    )
                ok = ok and not unknown
                fills.append(FillStep(str(attr), template))
        recordset = None
        fields: YMap = YMap.empty()
        if "recordset" in m:
            recordsets = _part(self.declared, entity, "recordsets")
            recordset = m["recordset"]
            if not isinstance(recordset, str) or recordset not in recordsets:
                issues.at(
                    m,
                    "recordset",
                    f"{path}.recordset",
                    f"entity {entity!r} has no recordset {recordset!r} (recordsets: {_known(recordsets)})",
                )
                return None
            raw_fields = (
                recordsets[recordset].get("fields") if isinstance(recordsets[recordset], YMap) else None
            )
            fields = raw_fields if isinstance(raw_fields, YMap) else YMap.empty()
        outputs: list[OutputMap] = []
        if "outputs" in m:
            om = issues.mapping(m["outputs"], f"{path}.outputs", m, "outputs")
            ok = ok and om is not None
            sources = fields if recordset is not None else attributes
            what = f"recordset {recordset!r}" if recordset is not None else f"entity {entity!r}"
            for col, source in (om or {}).items():
                opath = f"{path}.outputs.{col}"
                if self.column(om, col, opath, col) is None:
                    ok = False
                    continue
                if not isinstance(source, str) or source not in sources:
                    kind = "field" if recordset is not None else "attribute"
                    issues.at(om, col, opath, f"{what} has no {kind} {source!r} ({kind}s: {_known(sources)})")
                    ok = False
                    continue
                raw = sources.get(source)
                if recordset is None and isinstance(raw, YMap) and raw.get("access") == Access.WRITE.value:
                    issues.at(om, col, opath, f"attribute {source!r} is write-only (access: write)")
                    ok = False
                outputs.append(OutputMap(str(col), source))
        operation = None
        if "operation" in m:
            operation = m["operation"]
            ops = _part(self.declared, entity, "operations")
            if not isinstance(operation, str) or operation not in ops:
                issues.at(
                    m,
                    "operation",
                    f"{path}.operation",
                    f"entity {entity!r} has no operation {operation!r} (operations: {_known(ops)})",
                )
                return None
            for p in self._parameters(entity, operation):
                if p not in names:
                    issues.at(
                        m,
                        "operation",
                        f"{path}.operation",
                        f"operation parameter {p!r} is neither an input column nor a model variable",
                    )
                    ok = False
        if not ok:
            return None
        return ProcedureStep(entity, tuple(fills), recordset, tuple(outputs), operation)


def build_tables(
    issues: Issues, root: YMap, scope: Scope, declared: Declared, navigation: Navigation | None
) -> tuple[tuple[Table, ...], tuple[Procedure, ...]]:
    m = issues.mapping(root["tables"], "tables", root, "tables")
    if m is None:
        return (), ()
    issues.names(m, "tables", "table")
    tables: list[Table] = []
    procedures: list[Procedure] = []
    home = navigation.home if navigation else None
    if home is None and isinstance(root.get("navigation"), YMap):
        raw_home = root["navigation"].get("home")
        home = raw_home if isinstance(raw_home, str) and raw_home in declared else None
    for tname, tvalue in m.items():
        path = f"tables.{tname}"
        t = issues.mapping(tvalue, path, m, tname)
        if t is None:
            continue
        issues.keys(t, path, required=("columns",), optional=("procedures", "description"))
        description = issues.text(t, "description", path, "")
        columns = _columns(issues, t["columns"], f"{path}.columns", t) if "columns" in t else None
        raw_columns = t.get("columns")
        names = {str(c) for c in raw_columns} if isinstance(raw_columns, dict) else set()
        if "procedures" in t:
            pm = issues.mapping(t["procedures"], f"{path}.procedures", t, "procedures")
            if pm is not None:
                issues.names(pm, f"{path}.procedures", "procedure")
                reader = _ProcedureReader(issues, scope, declared, str(tname), names, home)
                for pname, pvalue in pm.items():
                    proc = reader.read(str(pname), pvalue, f"{path}.procedures.{pname}", pm)
                    procedures.extend([proc] if proc else [])
        if columns is not None and description is not None:
            tables.append(Table(str(tname), columns, description))
    return tuple(tables), tuple(procedures)
