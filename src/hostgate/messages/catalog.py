"""What a deployed model offers as services: its tables (typed columns) and procedures (inputs, outputs).

One typed description, built from a model by :func:`hostgate.models.describe.describe`, used by everything that
publishes or shows a model without driving it: the web-service layer (REST's OpenAPI document and SOAP's WSDL are
generated from it, #19), the Web Services Explorer, ``hostgate scaffold``, and the console. It travels on the wire
(a session server answers ``GET /api/v1/models/{name}/catalog`` with it), so it is a Reply.

Column types are the model's value types: ``string``, ``integer`` and ``decimal`` (decimals travel as strings,
like every decimal in hostgate's messages, so no digit is lost).
"""

from __future__ import annotations

from hostgate.messages._base import Reply

__all__ = ["ColumnInfo", "InputInfo", "ModelCatalog", "ProcedureInfo", "ServedModel", "TableInfo"]


class ColumnInfo(Reply, frozen=True):
    name: str
    type: str  # "string" | "integer" | "decimal"
    description: str = ""


class TableInfo(Reply, frozen=True):
    name: str
    columns: tuple[ColumnInfo, ...]
    description: str = ""


class InputInfo(Reply, frozen=True):
    """A column the procedure takes (a VHI "filter"); ``type`` is the column's."""

    column: str
    type: str
    required: bool = False


class ProcedureInfo(Reply, frozen=True):
    """``outputs``: the table's columns the procedure returns, in order, each with its type."""

    name: str
    table: str
    type: str  # "select" | "insert" | "update" | "delete"
    inputs: tuple[InputInfo, ...] = ()
    outputs: tuple[ColumnInfo, ...] = ()
    description: str = ""


class ModelCatalog(Reply, frozen=True):
    """A model's services. ``digest``: the first 16 hex digits of the SHA-256 of the model's text when known
    (as in deployment records), else empty."""

    model: str
    tables: tuple[TableInfo, ...] = ()
    procedures: tuple[ProcedureInfo, ...] = ()
    description: str = ""
    digest: str = ""
    # Set by a cluster catalog source (webservices/catalog.py) for a deployed model none of whose session
    # servers answered with its catalog: the coded error (``HG-NNNN: message``); tables and procedures empty.
    error: str = ""

    def procedure(self, name: str) -> ProcedureInfo | None:
        return next((p for p in self.procedures if p.name == name), None)


class ServedModel(Reply, frozen=True):
    """A model a session server serves (``GET /api/v1/models`` on its face): name and text digest."""

    name: str
    digest: str
