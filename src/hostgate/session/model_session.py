"""``ModelSession``: the navigator plus table procedures and SQL, the session a session server serves.

The navigator (``navigator.py``) knows screens, entities, attributes, operations and recordsets; table
procedures and queries (``procedures.py``) are walks built from those calls. Each layer imports only the one
below it (values ← navigator ← procedures ← model_session): before, ``ModelSession`` imported ``procedures``
lazily inside its methods while ``procedures`` imported ``ModelSession``, a circle the lazy imports hid.

    session = ModelSession(model, open_session(model.host), {"userid": "ADA", "password": "LOVELACE"})
    await session.open()
    found = await session.query("SELECT name FROM customers WHERE city = 'PARIS'")
"""

from __future__ import annotations

from collections.abc import Mapping

from hostgate.messages import Records
from hostgate.models import Value
from hostgate.session import procedures
from hostgate.session.navigator import Navigator

__all__ = ["ModelSession"]


class ModelSession(Navigator):
    """One host session driven through its model: everything :class:`Navigator` does, plus VHI's table
    procedures and SQL queries (see :mod:`hostgate.session.procedures` for how they walk the host)."""

    async def perform_table_procedure(
        self,
        table: str,
        procedure: str,
        inputs: Mapping[str, object] | None = None,
        filters: Mapping[str, object] | None = None,
    ) -> Records[Value]:
        """Run a table procedure (see :mod:`hostgate.session.procedures`)."""
        return await procedures.perform_table_procedure(self, table, procedure, inputs, filters)

    async def query(self, sql: str) -> Records[Value]:
        """Answer an SQL query through the procedure it maps to (``plan_query``)."""
        return await procedures.query(self, sql)
