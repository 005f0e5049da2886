"""A model's OpenAPI 3.1 document, generated from its catalog: one POST operation per procedure.

Inputs are the request body's properties (typed from the table's columns, required ones required, no others
allowed); outputs are the rows' properties; errors are RFC 9457 problem+json bodies carrying hostgate's code.
The stateful headers (``X-Hostgate-Session``, ``X-Hostgate-Keep``) and the per-request cluster
(``X-Hostgate-ServerName`` header, ``ServerName`` query parameter) are parameters of every operation.
"""

from __future__ import annotations

from typing import Any

from hostgate.messages.catalog import ModelCatalog, ProcedureInfo
from hostgate.webservices.types import json_schema

__all__ = ["PROBLEM_SCHEMA", "openapi_document"]

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "pattern": "^HG-[0-9A-Z]+$"},
        "hint": {"type": "string"},
        "message": {"type": "string"},
        "request_id": {"type": "string"},
    },
}

_HEADERS: list[dict[str, Any]] = [
    {
        "name": "X-Hostgate-ServerName",
        "in": "header",
        "required": False,
        "description": "The management cluster's alias[:port] for this call (wins over the ServerName "
        "query parameter and plugin-cfg.xml's serverName).",
        "schema": {"type": "string", "maxLength": 255},
    },
    {
        "name": "ServerName",
        "in": "query",
        "required": False,
        "description": "The management cluster's alias[:port] for this call (wins over plugin-cfg.xml).",
        "schema": {"type": "string", "maxLength": 255},
    },
    {
        "name": "X-Hostgate-Domain",
        "in": "header",
        "required": False,
        "description": "The domain to route the call in (default: plugin-cfg.xml's domain).",
        "schema": {"type": "string", "maxLength": 255},
    },
    {
        "name": "X-Hostgate-Pool",
        "in": "header",
        "required": False,
        "description": "A pool for a stateless call (default: plugin-cfg.xml's pool.MODEL).",
        "schema": {"type": "string", "maxLength": 255},
    },
    {
        "name": "X-Hostgate-Keep",
        "in": "header",
        "required": False,
        "description": "true: keep the session after this call; its id comes back as `session`.",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
    {
        "name": "X-Hostgate-Session",
        "in": "header",
        "required": False,
        "description": "Resume a kept session (ends it after this call unless X-Hostgate-Keep is true).",
        "schema": {"type": "string", "maxLength": 64},
    },
    # The same as query parameters, for clients that cannot set headers (a header wins over its parameter).
    {"name": "domain", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 255}},
    {"name": "pool", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 255}},
    {
        "name": "keep",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
    {"name": "session", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 64}},
]

_ERRORS = {
    "400": "the inputs do not fit the procedure (HG-1011) or the request is malformed",
    "401": "no or wrong credentials (HG-3001)",
    "403": "not allowed (HG-3002), or a kept session of another caller (HG-4506)",
    "404": "no such procedure (HG-4503) or kept session (HG-4505)",
    "413": "the body is larger than accepted (HG-1010)",
    "429": "too many failed logins (HG-3003)",
    "502": "the cluster alias is unknown (HG-4501) or the host failed (HG-7xxx)",
    "503": "no session server or member answered (HG-41xx, HG-51xx)",
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _operation(model: str, proc: ProcedureInfo, pools: bool) -> dict[str, Any]:
    inputs = {i.column: json_schema(i.type) for i in proc.inputs}
    row = {
        "type": "object",
        "properties": {c.name: json_schema(c.type, nullable=True) for c in proc.outputs},
    }
    body: dict[str, Any] = {
        "type": "object",
        "properties": inputs,
        "additionalProperties": False,
        "required": [i.column for i in proc.inputs if i.required],
    }
    answer = {
        "type": "object",
        "required": ["rows"],
        "properties": {
            "rows": {"type": "array", "items": row},
            "columns": {"type": "array", "items": {"type": "string"}},
            "session": {"type": "string"},
        },
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "the rows the procedure returned",
            "content": {"application/json": {"schema": answer}},
        }
    }
    responses.update({status: _problem(text) for status, text in _ERRORS.items()})
    responses["default"] = _problem("another coded error (docs/errors.md)")
    return {
        "operationId": proc.name,
        "summary": proc.description or f"{proc.type} on table {proc.table}",
        "tags": [proc.table],
        # The pool header only where pooled calls are offered: a document names what the service does.
        "parameters": [h for h in _HEADERS if pools or h["name"] not in ("X-Hostgate-Pool", "pool")],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": responses,
    }


def openapi_document(catalog: ModelCatalog, *, server_url: str = "/", pools: bool = True) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``catalog``'s procedures (served at ``/ws/v1/models/{model}/openapi.json``)."""
    paths = {
        f"/ws/v1/models/{catalog.model}/procedures/{p.name}": {"post": _operation(catalog.model, p, pools)}
        for p in catalog.procedures
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{catalog.model} (hostgate web services)",
            "version": catalog.digest or "1",
            "description": catalog.description,
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": {"Problem": PROBLEM_SCHEMA},
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}],
    }
