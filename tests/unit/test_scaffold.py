"""``hostgate scaffold`` without a cluster (#19): the generated code passes ruff and ``mypy --strict``, names
become identifiers, a non-empty ``--out`` is refused whole.

ruff and mypy run as the tools they are (subprocesses of this venv) over projects generated from every sample
model and from a catalog with awkward names; the live test of a scaffolded project is
tests/integration/test_scaffold_live.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hostgate.errors import ScaffoldTargetNotEmpty, UsageError
from hostgate.messages.catalog import ColumnInfo, InputInfo, ModelCatalog, ProcedureInfo, TableInfo
from hostgate.models import load_model
from hostgate.models.describe import describe
from hostgate.webservices.scaffold import identifier, scaffold

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "models"
BIN = Path(sys.executable).parent

AWKWARD = ModelCatalog(
    model="orders-v2.1",
    description='Orders with "quotes", a back\\slash and """ triple quotes.',
    digest="0123456789abcdef",
    tables=(
        TableInfo(
            "cust.list",
            (
                ColumnInfo("class", "string"),
                ColumnInfo("2nd-name", "string"),
                ColumnInfo("amount", "decimal"),
                ColumnInfo("qty", "integer"),
            ),
            description="it's a table",
        ),
    ),
    procedures=(
        ProcedureInfo(
            "get-all",
            "cust.list",
            "select",
            inputs=(InputInfo("class", "string"),),
            outputs=(ColumnInfo("class", "string"), ColumnInfo("amount", "decimal")),
        ),
        ProcedureInfo(
            "add",
            "cust.list",
            "insert",
            inputs=(
                InputInfo("amount", "decimal", required=True),
                InputInfo("qty", "integer", required=True),
                InputInfo("2nd-name", "string", required=True),
                InputInfo("class", "string"),
            ),
            outputs=(ColumnInfo("confirmation", "string"),),
        ),
    ),
)


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=300)


def _catalogs() -> list[ModelCatalog]:
    return [describe(load_model(p), digest="feedfacefeedface") for p in sorted(SAMPLES.glob("*.yaml"))] + [
        AWKWARD
    ]


def test_identifiers_map_dashes_dots_digits_and_keywords() -> None:
    assert identifier("orders-v2.1") == "orders_v2_1"
    assert identifier("2nd") == "m_2nd"
    assert identifier("class") == "class_"
    assert identifier("match") == "match_"  # a soft keyword too
    assert identifier("ça va") == "_a_va"


@pytest.mark.slow  # mypy over two projects: tens of seconds on a busy machine
def test_generated_projects_pass_ruff_and_mypy_strict(tmp_path: Path) -> None:
    projects = []
    for catalog in _catalogs():
        out = tmp_path / catalog.model
        scaffold(catalog, out)
        projects.append(out)
        for argv in (("ruff", "check", "."), ("ruff", "format", "--check", ".")):
            done = _run(str(BIN / argv[0]), *argv[1:], cwd=out)
            assert done.returncode == 0, f"{catalog.model}: {' '.join(argv)}\n{done.stdout}{done.stderr}"
    for out in (projects[0], projects[-1]):  # mypy is slow: the 3270 sample and the awkward names
        done = _run(str(BIN / "mypy"), cwd=out)  # the project's own [tool.mypy]: strict
        assert done.returncode == 0, f"{out.name}: mypy\n{done.stdout}{done.stderr}"
        assert "Success" in done.stdout


def test_awkward_names_become_identifiers_and_the_readme_lists_them(tmp_path: Path) -> None:
    written = {p.relative_to(tmp_path).as_posix() for p in scaffold(AWKWARD, tmp_path)}
    assert written == {
        "orders_v2_1_client.py",
        "orders_v2_1_web.py",
        "tests/test_orders_v2_1_live.py",
        "README.md",
        "pyproject.toml",
    }
    client = (tmp_path / "orders_v2_1_client.py").read_text()
    assert "class CustListRow:" in client and "    class_: str | None = None\n" in client
    assert "def get_all(session: Session, *, class_: str | None = None) -> list[CustListRow]:" in client
    assert 'inputs: dict[str, Cell] = {"amount": str(amount), "qty": qty, "2nd-name": m_2nd_name}' in client
    assert (
        'session.perform_table_procedure("cust.list", "get-all", inputs)' in client
    )  # the model's names travel
    readme = (tmp_path / "README.md").read_text()
    assert "| `orders-v2.1` | `orders_v2_1` |" in readme and "| `get-all` | `get_all` |" in readme


def test_a_non_empty_out_is_refused_and_nothing_is_written_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(ScaffoldTargetNotEmpty):
        scaffold(AWKWARD, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    scaffold(AWKWARD, tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine\n" and (tmp_path / "README.md").exists()


def test_two_names_that_map_to_one_identifier_are_refused_before_writing(tmp_path: Path) -> None:
    clash = ModelCatalog(
        model="m",
        tables=(TableInfo("t", (ColumnInfo("a-b", "string"), ColumnInfo("a.b", "string"))),),
    )
    with pytest.raises(UsageError, match=re.escape("'a-b' and 'a.b' both become the Python name 'a_b'")):
        scaffold(clash, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_a_non_empty_out_with_its_code(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    done = _run(
        sys.executable, "-m", "hostgate.cli.main", "scaffold", str(SAMPLES / "demo3270.yaml"),
        "--out", str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"error HG-4552: --out {tmp_path} is not empty; nothing was written")
    assert "Traceback" not in done.stderr
