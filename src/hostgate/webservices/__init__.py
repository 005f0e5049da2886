"""The web-service layer (#19): deployed models' procedures as REST/JSON and SOAP 1.1 services.

It is a CLIENT of the management cluster, like the connector: it reaches a model "via domain" through the
cluster's alias, named by ``<entry key="serverName">`` in ``plugin-cfg.xml`` (default ``localhost``) or by a
request's ``ServerName``. It runs inside every management member and as its own ``hostgate webservices``
process (for a DMZ); it never imports management or session server code.

The URL layout (a contract between the services, the Web Services Explorer and ``hostgate scaffold``):

- ``GET  /ws/v1/models``                                   the deployed models' catalogs (``ModelCatalog`` list)
- ``GET  /ws/v1/models/{model}``                           one model's catalog
- ``GET  /ws/v1/models/{model}/openapi.json``              the model's OpenAPI 3.1 document
- ``POST /ws/v1/models/{model}/procedures/{procedure}``    call (JSON object of inputs; answers rows)
- ``GET  /ws/soap/{model}?wsdl``                           the model's WSDL (SOAP 1.1, document/literal)
- ``POST /ws/soap/{model}``                                a SOAP 1.1 call
- ``GET  /ws/explorer``                                    the Web Services Explorer (static page, no CDN)

Where a model's catalog comes from is a :class:`CatalogSource`, so the services can be tested with catalogs
built from model files and run with the cluster's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hostgate.messages.catalog import ModelCatalog

__all__ = ["WS_PREFIX", "CatalogSource"]

WS_PREFIX = "/ws"


class CatalogSource(Protocol):
    """The catalogs of the models a caller may use. ``authorization``: the caller's ``Authorization`` header
    as received (the source asks the cluster on the caller's behalf; never logged)."""

    async def models(self, authorization: str | None) -> Sequence[ModelCatalog]: ...

    async def model(self, name: str, authorization: str | None) -> ModelCatalog: ...
