"""A model's catalog (what web services publish) is typed from its tables."""

from __future__ import annotations

from pathlib import Path

import msgspec

from hostgate.messages.catalog import ModelCatalog
from hostgate.models.describe import describe
from hostgate.models.loader import load_model

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "models"


def test_the_sample_catalog_types_inputs_and_outputs_from_the_table() -> None:
    catalog = describe(load_model(SAMPLES / "demo3270.yaml"), digest="abc")
    assert catalog.model == "demo3270" and catalog.digest == "abc"
    columns = {c.name: c.type for t in catalog.tables for c in t.columns}
    assert columns["number"] == "integer" and columns["name"] == "string"
    for procedure in catalog.procedures:
        assert procedure.outputs, procedure.name
        for given in procedure.inputs:
            assert given.type == columns[given.column]
        for out in procedure.outputs:
            assert out.type == columns.get(out.name, "string")
    first = catalog.procedures[0]
    assert catalog.procedure(first.name) is first and catalog.procedure("no-such") is None


def test_the_catalog_round_trips_on_the_wire() -> None:
    catalog = describe(load_model(SAMPLES / "demo5250.yaml"))
    again = msgspec.json.decode(msgspec.json.encode(catalog), type=ModelCatalog)
    assert again == catalog
