"""``load_model``: YAML text or file → a whole, validated :class:`Model`, or one ModelError listing every issue.

Nothing is partially loaded: the model is built only when the document has no issue at all. Checks that
span parts of the model (destinations, sign-on chains, procedure paths, columns) run over the names the
document declares, so one broken entity does not drown the report in follow-on errors about it.
"""

from __future__ import annotations

from pathlib import Path

from hostgate.errors import ModelError, ModelIssue
from hostgate.models._entities import Scope, build_entity
from hostgate.models._reader import Issues, describe
from hostgate.models._tables import build_navigation, build_tables
from hostgate.models._yaml import YMap, parse_yaml
from hostgate.models.host import DEFAULT_TERMINALS, KNOWN_TERMINALS, HostSpec, HostType, Terminal
from hostgate.models.spec import Entity, Model, Variable

__all__ = ["FORMAT_VERSIONS", "load_model"]

FORMAT_VERSIONS = (1,)
_TOP = ("format_version", "name", "host", "navigation", "entities")
_TOP_OPTIONAL = ("description", "variables", "tables")


def load_model(source: Path | str) -> Model:
    """Load and validate a model: ``source`` is a file path (``Path``) or the YAML text itself (``str``).

    Raises ModelSyntaxError (HG-6002) for text that is not YAML and ModelError (HG-6001) listing every issue
    (``issue.path``, ``issue.message``, ``issue.line``) for a document that is not a valid model.

        model = load_model(Path("samples/models/demo3270.yaml"))
        entity = model.recognize(screen)
    """
    if isinstance(source, Path):
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read model file {source}: {exc}") from exc
        name = str(source)
    else:
        text, name = source, "<model>"
    document = parse_yaml(text, name)
    issues = Issues()
    model = _build(issues, document)
    if issues.items or model is None:
        items = issues.items or [ModelIssue("(document)", "is not a valid model")]
        listing = "\n".join(f"  {issue}" for issue in items)
        count = f"{len(items)} error{'s' if len(items) != 1 else ''}"
        raise ModelError(f"{name}: the model has {count}:\n{listing}", issues=items)
    return model


def _host(issues: Issues, root: YMap) -> HostSpec | None:
    m = issues.mapping(root["host"], "host", root, "host")
    if m is None:
        return None
    issues.keys(
        m,
        "host",
        required=("type", "address", "port"),
        optional=("tls", "tls_verify", "tls_ca_file", "terminal", "encoding", "connect_timeout"),
    )
    type_ = issues.choice(m, "type", "host", HostType)
    address = issues.text(m, "address", "host", empty=False)
    port = issues.integer(m, "port", "host", low=1, high=65535)
    tls = issues.boolean(m, "tls", "host", False)
    verify = issues.boolean(m, "tls_verify", "host", True)
    ca_file = issues.text(m, "tls_ca_file", "host", "", empty=True)
    timeout = issues.number(m, "connect_timeout", "host", 10.0)
    terminal = _terminal(issues, m, type_)
    default_encoding = "utf8" if type_ is HostType.VT else "cp037"
    encoding = issues.text(m, "encoding", "host", default_encoding, empty=False)
    if encoding is not None and type_ is HostType.VT and encoding not in ("utf8", "latin1"):
        issues.at(m, "encoding", "host.encoding", f"a VT host's encoding is utf8 or latin1, not {encoding!r}")
        encoding = None
    if (
        encoding is not None
        and type_ in (HostType.TN3270, HostType.TN5250)
        and encoding not in ("cp037", "cp1047")
    ):
        issues.at(
            m, "encoding", "host.encoding", f"the EBCDIC code page is cp037 or cp1047, not {encoding!r}"
        )
        encoding = None
    if None in (type_, address, port, tls, verify, ca_file, timeout, terminal, encoding):
        return None
    assert type_ is not None and address is not None and port is not None and terminal is not None
    assert timeout is not None and encoding is not None and ca_file is not None
    return HostSpec(type_, address, port, terminal, bool(tls), bool(verify), encoding, timeout, ca_file)


def _terminal(issues: Issues, host: YMap, type_: HostType | None) -> Terminal | None:
    if type_ is None:
        return None
    default = DEFAULT_TERMINALS[type_]
    if "terminal" not in host:
        return default
    value = host["terminal"]
    known = KNOWN_TERMINALS[type_]
    if isinstance(value, str):
        value_map = YMap.empty(host.lines.get("terminal", host.line))
        value_map["type"] = value
        value_map.lines["type"] = value_map.line
        m: YMap | None = value_map
    else:
        m = issues.mapping(value, "host.terminal", host, "terminal")
    if m is None:
        return None
    issues.keys(m, "host.terminal", optional=("type", "rows", "cols"))
    name = issues.text(m, "type", "host.terminal", default.type, empty=False)
    rows = issues.integer(m, "rows", "host.terminal", low=1, high=255)
    cols = issues.integer(m, "cols", "host.terminal", low=1, high=255)
    if name is None or ("rows" in m and rows is None) or ("cols" in m and cols is None):
        return None
    if known:
        size = known.get(name.upper())
        if size is None:
            issues.at(
                m,
                "type",
                "host.terminal.type",
                f"{name!r} is not a {type_.value} terminal type (known: {', '.join(known)})",
            )
            return None
        if (rows is not None and rows != size[0]) or (cols is not None and cols != size[1]):
            issues.at(
                m,
                "type",
                "host.terminal",
                f"{name} is {size[0]}x{size[1]}, not {rows or size[0]}x{cols or size[1]}",
            )
            return None
        return Terminal(name.upper(), size[0], size[1])
    return Terminal(name, rows or default.rows, cols or default.cols)


def _variables(issues: Issues, root: YMap) -> tuple[Variable, ...]:
    if "variables" not in root:
        return ()
    m = issues.mapping(root["variables"], "variables", root, "variables")
    if m is None:
        return ()
    issues.names(m, "variables", "variable")
    found: list[Variable] = []
    for name, value in m.items():
        path = f"variables.{name}"
        if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
            found.append(Variable(str(name), "" if value is None else str(value)))
            continue
        v = issues.mapping(value, path, m, name)
        if v is None:
            continue
        issues.keys(v, path, optional=("default", "hidden", "description"))
        default = v.get("default", "")
        if isinstance(default, int) and not isinstance(default, bool):
            default = str(default)
        if not isinstance(default, str):
            issues.at(v, "default", f"{path}.default", f"must be text, not {describe(default)}")
            continue
        hidden = issues.boolean(v, "hidden", path, False)
        description = issues.text(v, "description", path, "")
        if hidden is not None and description is not None:
            found.append(Variable(str(name), default, hidden, description))
    return tuple(found)


def _build(issues: Issues, document: object) -> Model | None:
    if not isinstance(document, YMap):
        issues.add(
            "(document)", f"a model is a YAML mapping, not {describe(document)} (pass a Path to load a file)"
        )
        return None
    root = issues.mapping(document, "")
    assert root is not None
    issues.keys(root, "", required=_TOP, optional=_TOP_OPTIONAL)
    version = root.get("format_version")
    if "format_version" in root and version not in FORMAT_VERSIONS:
        supported = ", ".join(map(str, FORMAT_VERSIONS))
        issues.at(
            root,
            "format_version",
            "format_version",
            f"{describe(version)} is not a supported version ({supported})",
        )
    name = issues.text(root, "name", "", empty=False) if "name" in root else None
    description = issues.text(root, "description", "", "")
    host = _host(issues, root) if "host" in root else None
    variables = _variables(issues, root)
    raw_entities = (
        issues.mapping(root["entities"], "entities", root, "entities") if "entities" in root else None
    )
    if raw_entities is not None and not raw_entities:
        issues.at(root, "entities", "entities", "needs at least one entity")
    if raw_entities is not None:
        issues.names(raw_entities, "entities", "entity")
    terminal = host.terminal if host else None
    host_type = host.type if host else _raw_host_type(root)
    scope = Scope(
        rows=terminal.rows if terminal else 24,
        cols=terminal.cols if terminal else 80,
        host_type=host_type,
        entities=frozenset(str(k) for k in raw_entities or ()),
        variables=frozenset(v.name for v in variables),
    )
    entities: list[Entity] = []
    for ename, evalue in (raw_entities or YMap.empty()).items():
        entity = build_entity(
            issues, str(ename), evalue, f"entities.{ename}", scope, raw_entities or YMap.empty()
        )
        entities.extend([entity] if entity else [])
    declared = _declared(raw_entities)
    navigation = build_navigation(issues, root, scope, declared) if "navigation" in root else None
    tables, procedures = (
        build_tables(issues, root, scope, declared, navigation) if "tables" in root else ((), ())
    )
    if issues.items or host is None or navigation is None or name is None or description is None:
        return None
    return Model(1, name, host, navigation, tuple(entities), variables, tables, procedures, description)


def _raw_host_type(root: YMap) -> HostType | None:
    host = root.get("host")
    raw = host.get("type") if isinstance(host, dict) else None
    return next((t for t in HostType if str(raw).lower() == t.value), None)


def _declared(raw_entities: YMap | None) -> dict[str, YMap]:
    """Each declared entity's raw mapping (even a broken one), for cross-reference checks."""
    return {str(k): v for k, v in (raw_entities or {}).items() if isinstance(v, YMap)}
