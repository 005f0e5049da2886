"""load_model: valid samples load; every kind of mistake is reported with its path (and line); several at
once; nothing is half-loaded; the JSON Schema in docs/ agrees with the samples and rejects what the loader
rejects structurally."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hostgate.errors import ModelError, ModelSyntaxError
from hostgate.models import HostType, Key, KeyStep, load_model
from tests.helpers.hosts import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "model.schema.json").read_text())
SAMPLE_FILES = sorted(SAMPLES.glob("*.yaml"))


def sample_doc(name: str = "demo3270") -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())
    return loaded


def issues_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ModelError) as caught:
        load_model(yaml.safe_dump(doc, sort_keys=False))
    return [f"{i.path}: {i.message}" for i in caught.value.issues]


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_samples_load_and_match_the_schema(path: Path) -> None:
    model = load_model(path)
    assert model.format_version == 1
    assert model.entity(model.navigation.start) is not None
    assert model.procedures and model.tables
    jsonschema.validate(yaml.safe_load(path.read_text()), SCHEMA)


def test_sample_model_contents() -> None:
    model = load_model(SAMPLES / "demo3270.yaml")
    assert model.host.type is HostType.TN3270 and model.host.terminal.type == "IBM-3278-2"
    sign_on = model.entity("SignOn")
    assert sign_on is not None
    password = sign_on.attribute("password")
    assert (
        password is not None and password.hidden and password.access.writable and not password.access.readable
    )
    op = sign_on.operation("signon")
    assert op is not None and op.steps[-1] == KeyStep(Key.ENTER) and op.destinations == ("Menu", "SignOn")
    assert model.variable("password") is not None and model.variable("password").hidden  # type: ignore[union-attr]
    assert [str(r) for r in model.navigation.sign_on] == ["SignOn.signon"]


def test_the_samples_differ_only_in_their_host() -> None:
    docs = [sample_doc(p.stem) for p in SAMPLE_FILES]
    for doc in docs:
        for key in ("host", "name", "description"):
            doc.pop(key)
    assert all(doc == docs[0] for doc in docs)


Mutation = Callable[[dict[str, Any]], None]
CASES: list[tuple[str, Mutation, str]] = [
    (
        "attribute row off screen",
        lambda d: d["entities"]["SignOn"]["attributes"]["password"].update(row=30),
        "entities.SignOn.attributes.password.row: 30 is outside the 24x80 screen",
    ),
    (
        "attribute past last column",
        lambda d: d["entities"]["SignOn"]["attributes"]["message"].update(length=90),
        "entities.SignOn.attributes.message.length: 90 runs past column 80",
    ),
    (
        "overlapping writable attributes",
        lambda d: d["entities"]["SignOn"]["attributes"]["password"].update(row=10, col=38),
        "entities.SignOn.attributes.password: overlaps writable attribute 'userid'",
    ),
    (
        "unknown destination",
        lambda d: d["entities"]["Menu"]["operations"]["open_form"].update(destinations=["Nowhere"]),
        "entities.Menu.operations.open_form.destinations[0]: no entity 'Nowhere'",
    ),
    (
        "fill of a missing attribute",
        lambda d: d["entities"]["Menu"]["operations"]["open_form"]["steps"][0].update(fill={"opt": "1"}),
        "entities.Menu.operations.open_form.steps[0].fill.opt: the entity has no attribute 'opt'",
    ),
    (
        "fill of a read-only attribute",
        lambda d: d["entities"]["Menu"]["operations"]["open_form"]["steps"][0].update(fill={"message": "1"}),
        "entities.Menu.operations.open_form.steps[0].fill.message: attribute 'message' is read-only",
    ),
    (
        "unknown variable",
        lambda d: d["entities"]["SignOn"]["operations"]["signon"]["steps"][0].update(
            fill={"userid": "${user}"}
        ),
        "entities.SignOn.operations.signon.steps[0].fill.userid: ${user} names no variable or parameter",
    ),
    (
        "operation not ending with a key",
        lambda d: d["entities"]["Menu"]["operations"]["open_form"]["steps"].pop(),
        "entities.Menu.operations.open_form.steps: must end with a key step",
    ),
    (
        "unknown key",
        lambda d: d["entities"]["Menu"]["operations"]["signoff"]["steps"][0].update(key="PF99"),
        "entities.Menu.operations.signoff.steps[0].key: 'PF99' is not a key",
    ),
    (
        "key foreign to the host type",
        lambda d: d["entities"]["Menu"]["operations"]["signoff"]["steps"][0].update(key="Escape"),
        "entities.Menu.operations.signoff.steps[0].key: key Escape does not exist on a 3270 host",
    ),
    (
        "bad regex",
        lambda d: d["entities"]["Menu"]["rules"][1].update(regex="SELECTION ([="),
        "entities.Menu.rules[1].regex: is not a valid regular expression",
    ),
    (
        "rule text past the screen",
        lambda d: d["entities"]["SignOn"]["rules"][0].update(col=78),
        "entities.SignOn.rules[0].text: ends at column 84, past the 24x80 screen",
    ),
    (
        "entity without rules",
        lambda d: d["entities"]["Menu"].update(rules=[]),
        "entities.Menu.rules: needs at least one rule",
    ),
    (
        "recordset without end of data",
        lambda d: d["entities"]["CustomerList"]["recordsets"]["customers"].pop("end_of_data"),
        "entities.CustomerList.recordsets.customers.end_of_data: is required when scroll_forward is set",
    ),
    (
        "recordset field off screen",
        lambda d: d["entities"]["CustomerList"]["recordsets"]["customers"]["fields"]["city"].update(col=79),
        "entities.CustomerList.recordsets.customers.fields.city.length: 5 runs past column 80",
    ),
    (
        "unknown key in a mapping",
        lambda d: d["entities"]["SignOn"]["attributes"]["userid"].update(colour="red"),
        "entities.SignOn.attributes.userid.colour: is not a known key here",
    ),
    (
        "missing required key",
        lambda d: d["entities"]["SignOn"]["attributes"]["userid"].pop("length"),
        "entities.SignOn.attributes.userid.length: is required",
    ),
    (
        "YAML boolean where text is needed",
        lambda d: d["entities"]["SignOn"]["rules"][0].update(text=False),
        "entities.SignOn.rules[0].text: must be text, not the boolean false (quote it to make it text)",
    ),
    ("bad host type", lambda d: d["host"].update(type="3179"), "host.type: must be one of 3270, 5250, vt"),
    (
        "terminal of another host type",
        lambda d: d["host"].update(terminal="IBM-3179-2"),
        "host.terminal.type: 'IBM-3179-2' is not a 3270 terminal type",
    ),
    (
        "terminal size contradiction",
        lambda d: d["host"].update(terminal={"type": "IBM-3278-2", "rows": 43}),
        "host.terminal: IBM-3278-2 is 24x80, not 43x80",
    ),
    (
        "unsupported format version",
        lambda d: d.update(format_version=2),
        "format_version: the number 2 is not a supported version",
    ),
    (
        "unknown start entity",
        lambda d: d["navigation"].update(start="Login"),
        "navigation.start: no entity 'Login'",
    ),
    (
        "sign-on operation missing",
        lambda d: d["navigation"].update(sign_on=["SignOn.login"]),
        "navigation.sign_on[0]: entity 'SignOn' has no operation 'login'",
    ),
    (
        "sign-on chain broken",
        lambda d: d["navigation"].update(sign_on=["Menu.open_form"]),
        "navigation.sign_on[0]: runs on Menu, but the session is then on SignOn",
    ),
    (
        "procedure output not a column",
        lambda d: d["tables"]["customers"]["procedures"]["list_customers"].update(outputs=["number", "zip"]),
        "tables.customers.procedures.list_customers.outputs[1]: table 'customers' has no column 'zip'",
    ),
    (
        "procedure output never read",
        lambda d: d["tables"]["customers"]["procedures"]["list_customers"]["steps"][1]["outputs"].pop("city"),
        "tables.customers.procedures.list_customers.outputs: column 'city' is never read by a step",
    ),
    (
        "procedure path broken",
        lambda d: d["tables"]["customers"]["procedures"]["list_customers"]["steps"][0].update(
            operation="open_form"
        ),
        "tables.customers.procedures.list_customers.steps[1].entity: is CustomerList, but the previous step leaves the session on CustomerForm",
    ),
    (
        "procedure not starting at home",
        lambda d: d["tables"]["customers"]["procedures"]["list_customers"]["steps"].pop(0),
        "tables.customers.procedures.list_customers.steps[0].entity: is CustomerList, but procedures start on the home entity Menu",
    ),
    (
        "procedure reads a missing recordset field",
        lambda d: d["tables"]["customers"]["procedures"]["list_customers"]["steps"][1]["outputs"].update(
            city="town"
        ),
        "tables.customers.procedures.list_customers.steps[1].outputs.city: recordset 'customers' has no field 'town'",
    ),
    (
        "required input never sent",
        lambda d: d["tables"]["customers"]["procedures"]["list_customers"].update(
            inputs={"city": {"required": True}}
        ),
        "tables.customers.procedures.list_customers.inputs.city: is never sent to the host",
    ),
    (
        "bad identifier",
        lambda d: d["entities"].update({"Bad Name": copy.deepcopy(d["entities"]["Menu"])}),
        "entities.Bad Name: entity names must be identifiers",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in CASES], ids=[c[0] for c in CASES])
def test_each_kind_of_error_is_reported_with_its_path(mutate: Mutation, expected: str) -> None:
    doc = sample_doc()
    mutate(doc)
    found = issues_of(doc)
    assert any(issue.startswith(expected) for issue in found), found


def test_several_errors_are_reported_at_once_and_nothing_is_loaded() -> None:
    doc = sample_doc()
    doc["entities"]["SignOn"]["attributes"]["password"]["row"] = 30
    doc["entities"]["Menu"]["operations"]["open_form"]["destinations"] = ["Nowhere"]
    doc["host"]["port"] = 0
    doc["tables"]["customers"]["procedures"]["list_customers"]["outputs"] = ["zip"]
    with pytest.raises(ModelError) as caught:
        load_model(yaml.safe_dump(doc, sort_keys=False))
    paths = {i.path for i in caught.value.issues}
    assert {
        "entities.SignOn.attributes.password.row",
        "entities.Menu.operations.open_form.destinations[0]",
        "host.port",
        "tables.customers.procedures.list_customers.outputs[0]",
    } <= paths
    assert caught.value.code == "HG-6001"
    assert str(len(caught.value.issues)) in caught.value.message


def test_a_broken_entity_does_not_cascade_into_errors_about_it() -> None:
    doc = sample_doc()
    doc["entities"]["Menu"]["attributes"]["option"]["row"] = 99
    found = issues_of(doc)
    assert found == [f for f in found if f.startswith("entities.Menu.attributes.option.row")], found


def test_issues_carry_the_yaml_line() -> None:
    text = (
        (SAMPLES / "demo3270.yaml")
        .read_text()
        .replace("password: {row: 12, col: 34", "password: {row: 31, col: 34")
    )
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "row: 31" in row)
    with pytest.raises(ModelError) as caught:
        load_model(text)
    (issue,) = caught.value.issues
    assert issue.line == line
    assert str(issue).endswith(f"(line {line})")


def test_duplicate_keys_are_errors_not_silent_overwrites() -> None:
    text = (
        (SAMPLES / "demo3270.yaml")
        .read_text()
        .replace(
            "      message: {row: 23, col: 2, length: 79}\n    operations:\n      signon:",
            "      message: {row: 23, col: 2, length: 79}\n      userid: {row: 11, col: 34, length: 8}\n    operations:\n      signon:",
            1,
        )
    )
    with pytest.raises(ModelError) as caught:
        load_model(text)
    assert any(
        "given twice" in i.message and i.path.endswith("attributes.userid") for i in caught.value.issues
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [("format_version: 1\nname: [unclosed\n", 3), ("a: 1\n  b: 2\n", 2), ("x: 'open\n", 2)],
)
def test_bad_yaml_gives_a_coded_error_with_its_line(text: str, line: int) -> None:
    with pytest.raises(ModelSyntaxError) as caught:
        load_model(text)
    assert caught.value.code == "HG-6002"
    assert caught.value.issues[0].line == line
    assert f"<model>:{line}:" in caught.value.message


def test_a_file_that_cannot_be_read_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read model file"):
        load_model(tmp_path / "missing.yaml")


@pytest.mark.parametrize("document", ["just text", "- a\n- list\n", ""])
def test_a_document_that_is_not_a_mapping_is_refused(document: str) -> None:
    with pytest.raises(ModelError) as caught:
        load_model(document)
    assert caught.value.issues[0].path == "(document)"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["entities"]["SignOn"]["attributes"]["userid"].update(colour="red"),
        lambda d: d["entities"]["SignOn"]["attributes"]["userid"].pop("length"),
        lambda d: d["host"].update(type="3179"),
        lambda d: d.update(format_version=2),
        lambda d: d["entities"]["Menu"].update(rules=[]),
    ],
)
def test_the_schema_rejects_what_the_loader_rejects_structurally(mutate: Mutation) -> None:
    doc = sample_doc()
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
    assert issues_of(doc)
