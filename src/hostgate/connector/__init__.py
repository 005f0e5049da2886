"""The hostgate connector: client applications reach models and sessions through the management cluster.

Sync (as VHI's connectors) and async APIs share one core::

    from hostgate.connector import connect_to_model_via_domain

    with connect_to_model_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
                                     ca_file=Path("ca.pem")) as session:
        session.ping()
"""

from hostgate.connector.cluster import ClusterClient
from hostgate.connector.session import AsyncSession, connect_via_domain
from hostgate.connector.sync import Session, connect_to_model_via_domain
from hostgate.errors import HostgateError, NoServerAvailable, SessionLost

__all__ = [
    "AsyncSession",
    "ClusterClient",
    "HostgateError",
    "NoServerAvailable",
    "Session",
    "SessionLost",
    "connect_to_model_via_domain",
    "connect_via_domain",
]
