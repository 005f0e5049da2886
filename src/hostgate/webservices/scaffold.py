"""``hostgate scaffold``: a small runnable project for one model (VHI's Web Builder, #19).

From a :class:`~hostgate.messages.catalog.ModelCatalog` (a model file's, or a deployed model's read from the
cluster), :func:`scaffold` writes into an empty directory:

- ``MODULE_client.py``: a typed client over the connector: one frozen dataclass per table row, one function per
  procedure with typed keyword parameters (required inputs without a default), ``connect()`` via domain through
  the alias named by settings (environment, else ``hostgate-app.toml``);
- ``MODULE_web.py``: a minimal Starlette app listing a table (the first select procedure that needs no input)
  and calling a procedure (the first other one) from a form;
- ``README.md``, ``pyproject.toml`` (ruff and mypy --strict settings), and ``tests/test_MODULE_live.py``, a
  pytest test against a live cluster.

Names: the model's names become Python identifiers (:func:`identifier`): a character that cannot be in one
(``-``, ``.``, ...) becomes ``_``, a leading digit gets a prefix, a keyword a trailing ``_``; the README lists
each name that changed. The generated code passes ruff and ``mypy --strict`` (tests/integration/test_scaffold.py).
Templates are package data (``scaffold_templates/``), filled by plain ``{{name}}`` replacement.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path

from hostgate import __version__
from hostgate.errors import ScaffoldTargetNotEmpty, UsageError
from hostgate.messages.catalog import ColumnInfo, InputInfo, ModelCatalog, ProcedureInfo

__all__ = ["identifier", "module_name", "scaffold"]

_NOT_IDENT = re.compile(r"[^0-9A-Za-z_]")
_PY_TYPES = {"integer": "int", "decimal": "Decimal", "string": "str"}
_CONVERT = {"integer": "_int", "decimal": "_decimal", "string": "_str"}


def identifier(name: str, prefix: str = "m_") -> str:
    """A valid Python identifier for a model's name (``orders-v2.1`` -> ``orders_v2_1``)."""
    found = _NOT_IDENT.sub("_", name) or "_"
    if found[0].isdigit():
        found = prefix + found
    if keyword.iskeyword(found) or keyword.issoftkeyword(found):
        found += "_"
    return found


def module_name(model: str) -> str:
    return identifier(model).lower()


def _class_name(table: str) -> str:
    parts = [p for p in identifier(table, "t_").split("_") if p]
    return "".join(p[:1].upper() + p[1:] for p in parts) + "Row" if parts else "Row"


def _template(name: str, values: Mapping[str, str]) -> str:
    text = resources.files("hostgate.webservices").joinpath("scaffold_templates", name).read_text("utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise AssertionError(f"scaffold template {name} has an unfilled placeholder")  # a bug of this module
    return text


def _s(text: str) -> str:
    """A Python string literal quoted as ruff format writes it: double quotes unless the text holds a double
    quote and no single one."""
    text = text.replace("\\", "\\\\")
    if '"' in text and "'" not in text:
        return "'" + text + "'"
    return '"' + text.replace('"', '\\"') + '"'


def _list_literal(items: list[str]) -> str:
    return "[" + ", ".join(_s(i) for i in items) + "]"


def _python(text: str) -> str:
    return text.rstrip("\n") + "\n"


def _doc(text: str) -> str:
    """Text safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"""', "'''").strip()


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    cls: str
    columns: tuple[ColumnInfo, ...]
    description: str


def _tables(catalog: ModelCatalog) -> list[_Table]:
    """Each table with its columns, plus any output a procedure names that is not one (typed as the catalog
    says), so every procedure's rows fit their table's dataclass."""
    found = []
    for table in catalog.tables:
        columns = list(table.columns)
        names = {c.name for c in columns}
        for procedure in catalog.procedures:
            if procedure.table == table.name:
                for out in procedure.outputs:
                    if out.name not in names:
                        columns.append(out)
                        names.add(out.name)
        found.append(_Table(table.name, _class_name(table.name), tuple(columns), table.description))
    known = {t.name for t in found}
    for procedure in catalog.procedures:
        if procedure.table not in known:
            found.append(_Table(procedure.table, _class_name(procedure.table), procedure.outputs, ""))
            known.add(procedure.table)
    return found


def _check_unique(what: str, names: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for original, mapped in names:
        if mapped in seen and seen[mapped] != original:
            raise UsageError(
                f"{what} {seen[mapped]!r} and {original!r} both become the Python name {mapped!r}",
                hint="Rename one of them in the model: scaffold maps '-', '.' and other characters to '_'.",
            )
        seen[mapped] = original


def _row_class(table: _Table) -> str:
    fields = "".join(
        f"    {identifier(c.name)}: {_PY_TYPES.get(c.type, 'str')} | None = None\n" for c in table.columns
    )
    converted = "".join(
        f"            {identifier(c.name)}={_CONVERT.get(c.type, '_str')}(record.get({_s(c.name)})),\n"
        for c in table.columns
    )
    about = f" {_doc(table.description)}" if table.description else ""
    return (
        "\n\n@dataclass(frozen=True, slots=True)\n"
        f"class {table.cls}:\n"
        f'    """A row of table ``{_doc(table.name)}``.{about}"""\n\n'
        f"{fields}\n"
        "    @classmethod\n"
        f"    def from_record(cls, record: Mapping[str, Cell]) -> {table.cls}:\n"
        "        return cls(\n"
        f"{converted}"
        "        )\n"
    )


def _param(i: InputInfo) -> str:
    kind = _PY_TYPES.get(i.type, "str")
    return (
        f"{identifier(i.column)}: {kind}" if i.required else f"{identifier(i.column)}: {kind} | None = None"
    )


def _cell(i: InputInfo) -> str:
    # Decimals travel as strings (hostgate's wire rule: no digit lost).
    name = identifier(i.column)
    return f"str({name})" if i.type == "decimal" else name


def _procedure_function(p: ProcedureInfo, table: _Table) -> str:
    fn = identifier(p.name)
    params = "".join(f", {_param(i)}" for i in p.inputs)
    star = ", *" if p.inputs else ""
    signature = f"def {fn}(session: Session{star}{params}) -> list[{table.cls}]:"
    if len(signature) > 110:
        lines = ["session: Session", *(["*"] if p.inputs else []), *(_param(i) for i in p.inputs)]
        signature = f"def {fn}(\n" + "".join(f"    {x},\n" for x in lines) + f") -> list[{table.cls}]:"
    required = [i for i in p.inputs if i.required]
    optional = [i for i in p.inputs if not i.required]
    body = "    inputs: dict[str, Cell] = {"
    body += ", ".join(f"{_s(i.column)}: {_cell(i)}" for i in required) + "}\n"
    if len(body) > 110:
        body = "    inputs: dict[str, Cell] = {\n"
        body += "".join(f"        {_s(i.column)}: {_cell(i)},\n" for i in required) + "    }\n"
    for i in optional:
        body += f"    if {identifier(i.column)} is not None:\n        inputs[{_s(i.column)}] = {_cell(i)}\n"
    about = f"\n\n    {_doc(p.description)}\n    " if p.description else ""
    return (
        f"\n\n{signature}\n"
        f'    """``{_doc(p.name)}``: {p.type} on table ``{_doc(p.table)}``.{about}"""\n'
        f"{body}"
        f"    found = session.perform_table_procedure({_s(p.table)}, {_s(p.name)}, inputs)\n"
        f"    return [{table.cls}.from_record(r) for r in found]\n"
    )


def _listing(catalog: ModelCatalog) -> ProcedureInfo | None:
    """The procedure the web app lists its table with: a select that needs no input."""
    return next(
        (p for p in catalog.procedures if p.type == "select" and not any(i.required for i in p.inputs)), None
    )


def _web(catalog: ModelCatalog, tables: dict[str, _Table]) -> tuple[str, str, str, str]:
    """(summary, body, routes, test body) of the web app and its live test."""
    listing = _listing(catalog)
    others = [p for p in catalog.procedures if p is not listing]
    calling = others[0] if others else None
    body, routes, test, summary = "", [], "", []
    if listing is not None:
        table = tables[listing.table]
        columns = [c.name for c in listing.outputs] or [c.name for c in table.columns]
        cells = ", ".join(f"r.{identifier(c)}" for c in columns)
        summary.append(f"lists table `{listing.table}` (procedure `{listing.name}`)")
        body += (
            "\n\ndef _list() -> str:\n"
            "    with client.connect() as session:\n"
            f"        rows = client.{identifier(listing.name)}(session)\n"
            f"    return _table({_list_literal(columns)}, [[{cells}] for r in rows])\n"
        )
        test += (
            "\n\n"
            f"def test_{identifier(listing.name)}_answers_typed_rows() -> None:\n"
            "    with client.connect() as session:\n"
            f"        rows = client.{identifier(listing.name)}(session)\n"
            f"    assert all(isinstance(r, client.{table.cls}) for r in rows)\n"
            "\n\n"
            "def test_the_web_app_lists_the_table() -> None:\n"
            "    with TestClient(web.app) as http:\n"
            '        answer = http.get("/")\n'
            '    assert answer.status_code == 200 and "<table>" in answer.text\n'
        )
    else:
        body += '\n\ndef _list() -> str:\n    return "<p>This model has no select procedure without inputs.</p>"\n'
        test += (
            "\n\ndef test_the_web_app_answers() -> None:\n"
            "    with TestClient(web.app) as http:\n"
            '        assert http.get("/").status_code == 200\n'
        )
    form, call = '""', ""
    if calling is not None:
        summary.append(f"calls procedure `{calling.name}` from a form")
        fields = "".join(
            "    "
            + _s(
                f"<label>{escape(i.column)}{' (required)' if i.required else ''} "
                f'<input name="{escape(i.column)}"{" required" if i.required else ""}></label><br>'
            )
            + "\n"
            for i in calling.inputs
        )
        form = (
            "(\n    " + _s('<form method="post" action="/call">') + "\n"
            f"{fields}"
            "    " + _s(f"<button>Call {escape(calling.name)}</button></form>") + "\n)"
        )
        args = []
        for i in calling.inputs:
            raw = f"_text(form, {_s(i.column)})"
            if i.type == "integer":
                raw = f"_int({raw}, {_s(i.column)})"
            elif i.type == "decimal":
                raw = f"_decimal({raw}, {_s(i.column)})"
            if i.required:
                raw = (
                    f"_required(_text(form, {_s(i.column)}), {_s(i.column)})"
                    if i.type == "string"
                    else f"_need({raw}, {_s(i.column)})"
                )
            args.append(f"{identifier(i.column)}={raw}")
        outputs = [c.name for c in calling.outputs] or [c.name for c in tables[calling.table].columns]
        cells = ", ".join(f"r.{identifier(c)}" for c in outputs)
        kwargs = "".join(f"            {a},\n" for a in args)
        call = (
            "\n\nasync def call(request: Request) -> HTMLResponse:\n"
            "    form = await request.form()\n"
            "\n"
            "    def run() -> str:\n"
            "        with client.connect() as session:\n"
            f"            rows = client.{identifier(calling.name)}(\n"
            "                session,\n"
            + "".join(f"    {line}\n" for line in kwargs.splitlines())
            + "            )\n"
            f"        return _table({_list_literal(outputs)}, [[{cells}] for r in rows])\n" + "\n"
            "    try:\n"
            "        shown = await run_in_threadpool(run)\n"
            "    except ValueError as exc:\n"
            f'        return _page({_s(catalog.model)}, f"<p>{{escape(str(exc))}}</p>", FORM, status=400)\n'
            "    except HostgateError as exc:\n"
            f'        return _page({_s(catalog.model)}, f"<p>{{escape(str(exc))}}</p>", FORM, status=502)\n'
            f"    return _page({_s(catalog.model)}, shown, FORM)\n"
        )
        routes.append('Route("/call", call, methods=["POST"])')
        if any(i.required and i.type != "string" for i in calling.inputs):
            body += (
                "\n\ndef _need(value: _T | None, name: str) -> _T:\n"
                "    if value is None:\n"
                '        raise ValueError(f"{name} is required")\n'
                "    return value\n"
            )
    body += f"\n\nFORM = {form}\n"
    body += (
        "\n\nasync def home(request: Request) -> HTMLResponse:\n"
        "    try:\n"
        "        shown = await run_in_threadpool(_list)\n"
        "    except HostgateError as exc:\n"
        f'        return _page({_s(catalog.model)}, f"<p>{{escape(str(exc))}}</p>", FORM, status=502)\n'
        f"    return _page({_s(catalog.model)}, shown, FORM)\n"
    )
    body += call
    routes.insert(0, 'Route("/", home, methods=["GET"])')
    return "; ".join(summary) or "shows the model", body, ", ".join(routes), test


def _files(catalog: ModelCatalog) -> dict[str, str]:
    tables = _tables(catalog)
    by_name = {t.name: t for t in tables}
    _check_unique("tables", [(t.name, t.cls) for t in tables])
    _check_unique("procedures", [(p.name, identifier(p.name)) for p in catalog.procedures])
    for table in tables:
        _check_unique(
            f"columns of table {table.name!r}", [(c.name, identifier(c.name)) for c in table.columns]
        )
    ident = module_name(catalog.model)
    module, web_module = f"{ident}_client", f"{ident}_web"
    listing = _listing(catalog)
    usage = (
        f"        rows = {identifier(listing.name)}(session)\n"
        if listing is not None
        else "        print(session.current_entity())\n"
    )
    # isort-style, as ruff's RUF022 wants: CONSTANTS, then Classes, then functions.
    exports = sorted(
        ["MODEL", "Settings", "SettingsError", "connect"]
        + [t.cls for t in tables]
        + [identifier(p.name) for p in catalog.procedures],
        key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n),
    )
    digest_note = f", digest {catalog.digest}" if catalog.digest else ""
    digest_line = f"\nModel digest: {catalog.digest}.\n" if catalog.digest else ""
    rows = "".join(_row_class(t) for t in tables)
    procedures = "".join(_procedure_function(p, by_name[p.table]) for p in catalog.procedures)
    web_summary, web_body, web_routes, test_body = _web(catalog, by_name)
    renamed = [(n, identifier(n)) for n in [catalog.model] if module_name(n) != n]
    renamed += [(t.name, t.cls) for t in tables]
    renamed += [(p.name, identifier(p.name)) for p in catalog.procedures if identifier(p.name) != p.name]
    renamed += [
        (c.name, identifier(c.name)) for t in tables for c in t.columns if identifier(c.name) != c.name
    ]
    name_map = "\n| model's name | Python name |\n|---|---|\n" + "".join(
        f"| `{a}` | `{b}` |\n" for a, b in renamed
    )
    values = {
        "model": catalog.model,
        "digest_note": digest_note,
        "digest_line": digest_line,
        "description": _doc(catalog.description) + "\n\n" if catalog.description else "",
        "description_line": catalog.description,
        "usage": usage,
        "exports": "".join(f'    "{e}",\n' for e in exports),
        "rows": rows,
        "procedures": procedures,
        "module": module,
        "web_module": web_module,
        "ident": ident,
        "dist": ident.replace("_", "-") + "-hostgate-client",
        "hostgate_version": __version__,
        "web_summary": web_summary,
        "web_body": web_body,
        "web_routes": web_routes,
        "test_body": test_body,
        "name_map": name_map,
    }
    web = _template("web.py.tmpl", values)
    if "_need(" in web:
        # A required number: _need narrows ``int | None`` to ``int`` for mypy --strict.
        web = web.replace('__all__ = ["app"]\n', '__all__ = ["app"]\n\n_T = TypeVar("_T")\n')
        web = web.replace(
            "from html import escape\n", "from html import escape\nfrom typing import TypeVar\n"
        )
    return {
        f"{module}.py": _python(_template("client.py.tmpl", values)),
        f"{web_module}.py": _python(web),
        f"tests/test_{ident}_live.py": _python(_template("test_live.py.tmpl", values)),
        "README.md": _template("README.md.tmpl", values),
        "pyproject.toml": _template("pyproject.toml.tmpl", values),
    }


def scaffold(catalog: ModelCatalog, out: Path, *, force: bool = False) -> list[Path]:
    """Write the project for ``catalog`` into ``out`` (created if missing). A directory that holds anything
    is refused (HG-4552) unless ``force``: then the generated files are overwritten and others left alone.
    Everything is generated before the first file is written: a refused model writes nothing."""
    if catalog.error:
        raise UsageError(f"model {catalog.model!r} cannot be scaffolded: {catalog.error}")
    files = _files(catalog)
    if out.exists() and not out.is_dir():
        raise ScaffoldTargetNotEmpty(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ScaffoldTargetNotEmpty(f"--out {out} is not empty; nothing was written")
    written = []
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
