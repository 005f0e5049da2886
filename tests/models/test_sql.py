"""The SQL subset parser (strict, positions in errors) and the mapping of a query to a procedure."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostgate.errors import NoProcedureForQuery, QueryError
from hostgate.models import Condition, SqlQuery, parse_sql, plan_query
from tests.helpers.hosts import sample_model


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM customers", SqlQuery(None, "customers")),
        ("select name, city from Customers;", SqlQuery(("name", "city"), "Customers")),
        (
            "SELECT name FROM customers WHERE city = 'CITY1' AND number = 7",
            SqlQuery(("name",), "customers", (Condition("city", "CITY1"), Condition("number", 7))),
        ),
        (
            "SELECT a FROM t WHERE b = 'it''s' AND c = -1.50",
            SqlQuery(("a",), "t", (Condition("b", "it's"), Condition("c", Decimal("-1.50")))),
        ),
        ("  SELECT a FROM t WHERE b = ''  ", SqlQuery(("a",), "t", (Condition("b", ""),))),
    ],
)
def test_the_subset_parses(sql: str, expected: SqlQuery) -> None:
    assert parse_sql(sql) == expected


@pytest.mark.parametrize(
    ("sql", "position", "fragment"),
    [
        ("SELECT FROM t", 8, "expected a column name or *"),
        ("SELECT a t", 10, "expected FROM"),
        ("SELECT a FROM t WHERE b > 1", 25, "only column = value"),
        ("SELECT a FROM t WHERE b = 1 OR c = 2", 29, "expected WHERE, AND or the end"),
        ('SELECT a FROM t WHERE b = "x"', 27, "strings use single quotes"),
        ("SELECT a FROM t WHERE b = 'open", 27, "unterminated string"),
        ("SELECT a FROM t WHERE b = 1 AND b = 2", 33, "compared twice"),
        ("SELECT a FROM t ORDER BY a", 17, "expected WHERE, AND or the end"),
        ("DELETE FROM t", 1, "expected SELECT"),
        ("SELECT a FROM t WHERE", 22, "expected a column name, found end of statement"),
    ],
)
def test_anything_else_is_refused_with_its_position(sql: str, position: int, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_sql(sql)
    assert caught.value.code == "HG-6003"
    assert f"at position {position}:" in caught.value.message
    assert fragment in caught.value.message


IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s.upper() not in {"SELECT", "FROM", "WHERE", "AND"}
)
LITERAL = st.one_of(
    st.integers(-(10**6), 10**6), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
)


def _render(value: int | str) -> str:
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


@given(st.lists(IDENT, min_size=1, max_size=4), IDENT, st.dictionaries(IDENT, LITERAL, max_size=3))
def test_generated_queries_round_trip(columns: list[str], table: str, where: dict[str, int | str]) -> None:
    sql = f"SELECT {', '.join(columns)} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(f"{c} = {_render(v)}" for c, v in where.items())
    parsed = parse_sql(sql)
    assert parsed.columns == tuple(columns) and parsed.table == table
    assert parsed.conditions == tuple(Condition(c, v) for c, v in where.items())


@given(st.text(max_size=60))
def test_arbitrary_text_never_escapes_as_anything_but_query_error(text: str) -> None:
    with contextlib.suppress(QueryError):
        parse_sql(text)


def test_a_where_column_that_is_an_output_becomes_a_filter() -> None:
    plan = plan_query(sample_model("demo3270"), "SELECT name FROM CUSTOMERS WHERE City = 'CITY1'")
    assert plan.procedure.name == "list_customers"
    assert plan.columns == ("name",)
    assert dict(plan.filters) == {"city": "CITY1"} and not plan.inputs


def test_select_star_returns_the_procedures_outputs() -> None:
    plan = plan_query(sample_model("demo3270"), "SELECT * FROM customers")
    assert plan.columns == ("number", "name", "city")


@pytest.mark.parametrize(
    ("sql", "error", "fragment"),
    [
        ("SELECT name FROM vendors", QueryError, "no table 'vendors'"),
        ("SELECT zip FROM customers", QueryError, "has no column 'zip'"),
        ("SELECT result FROM customers", NoProcedureForQuery, "list_customers does not return result"),
    ],
)
def test_queries_no_procedure_answers_are_refused(sql: str, error: type[QueryError], fragment: str) -> None:
    with pytest.raises(error) as caught:
        plan_query(sample_model("demo3270"), sql)
    assert type(caught.value) is error
    assert fragment in caught.value.message
