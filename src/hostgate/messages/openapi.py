"""The OpenAPI 3.1 document of both faces, generated from the message definitions and the endpoint table.

Served by the management API at ``/api/v1/openapi.json`` (behind the same credentials as the rest). JSON Schema
2020-12 (which OpenAPI 3.1 uses) comes from msgspec for the very types the faces decode with, so the document
cannot drift from what the servers accept.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hostgate.messages.endpoints import ENDPOINTS, Endpoint, _Management, _Session
from hostgate.messages.management import HEARTBEAT_HOLDS, ErrorBody
from hostgate.messages.route_errors import errors_of

__all__ = ["openapi"]

_REF = "#/components/schemas/{name}"
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "none": [],
    "basic": [{"basic": []}],
    "certificate": [{"certificate": []}],
    "basic-or-certificate": [{"basic": []}, {"certificate": []}],
    # Both at once (OpenAPI 3: the schemes of one requirement object must all be satisfied).
    "basic-and-certificate": [{"basic": [], "certificate": []}],
    "bearer": [{"bearer": []}],
    "optional-bearer": [{}, {"bearer": []}],
}


# Request headers and answers beyond the endpoint table's one answer, by operation name.
_HEADERS: dict[str, list[dict[str, Any]]] = {
    "heartbeat": [
        {
            "name": HEARTBEAT_HOLDS,
            "in": "header",
            "required": False,
            "description": (
                "what the server already holds, `token_keys;on|off;pools` (the versions a HeartbeatAnswer names): "
                "when the answer would name exactly these, the member answers 204 instead (issue #16). The beat "
                "is recorded either way."
            ),
            "schema": {"type": "string"},
        }
    ],
}
_MORE_ANSWERS: dict[str, dict[str, dict[str, Any]]] = {
    "heartbeat": {
        "204": {"description": "the beat is recorded; the answer would name only versions the server holds"}
    },
}


def _names() -> dict[int, str]:
    """Each endpoint's name in its table (``API.join`` is ``join``), by identity."""
    return {
        id(e): name
        for table in (_Management, _Session)
        for name, e in vars(table).items()
        if isinstance(e, Endpoint)
    }


def _operation(endpoint: Endpoint[Any, Any], schemas: dict[Any, dict[str, Any]], name: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{endpoint.face}.{name}",
        "summary": endpoint.summary,
        "tags": [endpoint.face],
        "security": _SECURITY[endpoint.auth],
        "responses": {
            str(endpoint.status): (
                {"description": "PEM", "content": {"application/x-pem-file": {"schema": {"type": "string"}}}}
                if endpoint.reply is None
                else {
                    "description": "OK",
                    "content": {"application/json": {"schema": schemas[endpoint.reply]}},
                }
            ),
            **_MORE_ANSWERS.get(name, {}),
            "default": {
                "description": "A coded error (docs/errors.md)",
                "content": {"application/json": {"schema": schemas[ErrorBody]}},
            },
        },
        # The codes this route may answer (messages/route_errors.py), for the API reference (docs/api.md).
        "x-hostgate-errors": errors_of(name, endpoint),
    }
    if endpoint.request is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas[endpoint.request]}},
        }
    params = [p.split("}")[0] for p in endpoint.path.split("{")[1:]]
    if params or name in _HEADERS:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
        ] + _HEADERS.get(name, [])
    return op


def openapi(face: str | None = None) -> dict[str, Any]:
    """The OpenAPI document of ``face`` (``"management"``, ``"session"``) or of both (``None``)."""
    chosen = [e for e in ENDPOINTS if face is None or e.face == face]
    types = list(
        dict.fromkeys(
            [
                ErrorBody,
                *(e.request for e in chosen if e.request is not None),
                *(e.reply for e in chosen if e.reply),
            ]
        )
    )
    found, components = msgspec.json.schema_components(types, ref_template=_REF)
    schemas = dict(zip(types, found, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    names = _names()
    for endpoint in chosen:
        op = _operation(endpoint, schemas, names[id(endpoint)])
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "hostgate", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "a token the cluster issued: a session token (session face), or the CLI login token "
                        "(hgcli_...) being ended (DELETE /api/v1/login)"
                    ),
                },
                "certificate": {
                    "type": "mutualTLS",
                    "description": "a registered session server's certificate",
                },
            },
        },
    }
