"""The SQL subset VHI's connectors accept for tables, and how a query maps to a procedure.

Grammar (keywords and names are case-insensitive; anything else is refused with its position)::

    query     := SELECT columns FROM name [WHERE condition (AND condition)*] [;]
    columns   := * | name (, name)*
    condition := name = literal
    literal   := 'text' ('' inside is one quote) | [-]digits[.digits]

Mapping (as VHI does): a select procedure of the table answers the query when every one of its required
inputs appears in WHERE and the selected columns are among its outputs. WHERE columns that are procedure
inputs are sent to the host; the others filter the returned rows (so they must be outputs). Among several
candidates the one taking the most WHERE columns as inputs wins, then the first in the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from hostgate.errors import NoProcedureForQuery, QueryError
from hostgate.models.spec import Model, Procedure, ProcedureType

__all__ = ["Condition", "QueryPlan", "SqlQuery", "parse_sql", "plan_query"]

Literal = str | int | Decimal


@dataclass(frozen=True, slots=True)
class Condition:
    column: str
    value: Literal


@dataclass(frozen=True, slots=True)
class SqlQuery:
    """A parsed query. ``columns`` is None for ``SELECT *``."""

    columns: tuple[str, ...] | None
    table: str
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """What to run for a query: the procedure, the inputs to send, the filters to apply to its rows, and
    the columns to return (in the query's order, spelled as in the model)."""

    procedure: Procedure
    columns: tuple[str, ...]
    inputs: Mapping[str, Literal]
    filters: Mapping[str, Literal]


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[*,=;<>!])
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int  # 1-based column in the statement


def _tokens(sql: str) -> list[_Tok]:
    found: list[_Tok] = []
    pos = 0
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        if m is None or m.lastgroup is None:  # only trailing whitespace is left
            break
        kind = m.lastgroup
        start = m.start(kind) + 1
        text = m.group(kind)
        if kind == "bad":
            hint = " (strings use single quotes)" if text == '"' else ""
            if text == "'":
                raise QueryError(f"at position {start}: unterminated string{hint}")
            raise QueryError(f"at position {start}: unexpected {text!r}{hint}")
        if kind == "name" and text.upper() in _KEYWORDS:
            kind, text = "keyword", text.upper()
        found.append(_Tok(kind, text, start))
        pos = m.end()
    found.append(_Tok("end", "end of statement", len(sql) + 1))
    return found


class _Parser:
    def __init__(self, sql: str) -> None:
        self.tokens = _tokens(sql)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def fail(self, expected: str) -> QueryError:
        tok = self.tok
        found = tok.text if tok.kind == "end" else repr(tok.text)
        return QueryError(f"at position {tok.pos}: expected {expected}, found {found}")

    def keyword(self, word: str) -> None:
        if self.tok.kind != "keyword" or self.tok.text != word:
            raise self.fail(word)
        self.i += 1

    def punct(self, char: str) -> bool:
        if self.tok.kind == "punct" and self.tok.text == char:
            self.i += 1
            return True
        return False

    def name(self, what: str) -> str:
        if self.tok.kind != "name":
            raise self.fail(what)
        self.i += 1
        return self.tokens[self.i - 1].text

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind == "string":
            self.i += 1
            return tok.text[1:-1].replace("''", "'")
        if tok.kind == "number":
            self.i += 1
            return Decimal(tok.text) if "." in tok.text else int(tok.text)
        raise self.fail("a 'quoted string' or a number")

    def query(self) -> SqlQuery:
        self.keyword("SELECT")
        columns: list[str] | None
        if self.punct("*"):
            columns = None
        else:
            columns = [self.name("a column name or *")]
            while self.punct(","):
                columns.append(self.name("a column name"))
        self.keyword("FROM")
        table = self.name("a table name")
        conditions: list[Condition] = []
        if self.tok.kind == "keyword" and self.tok.text == "WHERE":
            self.i += 1
            while True:
                start = self.tok.pos
                column = self.name("a column name")
                if not self.punct("="):
                    raise self.fail("= (only column = value conditions joined by AND are supported)")
                value = self.literal()
                if any(c.column.lower() == column.lower() for c in conditions):
                    raise QueryError(f"at position {start}: column {column!r} is compared twice")
                conditions.append(Condition(column, value))
                if not (self.tok.kind == "keyword" and self.tok.text == "AND"):
                    break
                self.i += 1
        self.punct(";")
        if self.tok.kind != "end":
            raise self.fail("WHERE, AND or the end of the statement")
        return SqlQuery(tuple(columns) if columns is not None else None, table, tuple(conditions))


def parse_sql(sql: str) -> SqlQuery:
    """Parse ``sql``; QueryError (HG-6003) names the position of the first thing outside the subset."""
    return _Parser(sql).query()


def plan_query(model: Model, query: SqlQuery | str) -> QueryPlan:
    """The procedure call that answers ``query`` on ``model`` (QueryError / NoProcedureForQuery if none)."""
    parsed = parse_sql(query) if isinstance(query, str) else query
    table = model.table(parsed.table)
    if table is None:
        known = ", ".join(t.name for t in model.tables) or "none"
        raise QueryError(f"no table {parsed.table!r} (tables: {known})")

    def resolve(name: str) -> str:
        column = table.column(name)
        if column is None:
            raise QueryError(
                f"table {table.name!r} has no column {name!r} (columns: {', '.join(c.name for c in table.columns)})"
            )
        return column.name

    wanted = tuple(resolve(c) for c in parsed.columns) if parsed.columns is not None else None
    where = {resolve(c.column): c.value for c in parsed.conditions}
    reasons: list[str] = []
    best: tuple[int, Procedure, tuple[str, ...]] | None = None
    for proc in model.procedures_of(table.name):
        if proc.type is not ProcedureType.SELECT:
            continue
        columns = wanted if wanted is not None else proc.outputs
        missing_inputs = sorted(proc.required_inputs - where.keys())
        not_output = [c for c in columns if c not in proc.outputs]
        unfilterable = [c for c in where if proc.input(c) is None and c not in proc.outputs]
        if missing_inputs or not_output or unfilterable:
            why = []
            if missing_inputs:
                why.append(f"needs {', '.join(missing_inputs)} in WHERE")
            if not_output:
                why.append(f"does not return {', '.join(not_output)}")
            if unfilterable:
                why.append(f"can neither send nor filter on {', '.join(unfilterable)}")
            reasons.append(f"{proc.name} {' and '.join(why)}")
            continue
        used = sum(1 for c in where if proc.input(c) is not None)
        if best is None or used > best[0]:
            best = (used, proc, columns)
    if best is None:
        detail = "; ".join(reasons) if reasons else f"table {table.name!r} has no select procedure"
        raise NoProcedureForQuery(f"no procedure of {table.name!r} answers the query: {detail}")
    _, proc, columns = best
    inputs = {c: v for c, v in where.items() if proc.input(c) is not None}
    filters = {c: v for c, v in where.items() if proc.input(c) is None}
    return QueryPlan(proc, columns, inputs, filters)
