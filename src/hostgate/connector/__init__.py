"""The hostgate connector: client applications reach models and sessions through the management cluster.

Sync (as VHI's connectors) and async APIs share one core:

==============================================  ===================================  ==========================
VHI                                             sync                                 async
==============================================  ===================================  ==========================
``ConnectToModelViaDomain``                     ``connect_to_model_via_domain``      ``connect_via_domain``
``ConnectToModel``                              ``connect_to_model``                 ``connect_direct``
``ConnectToSession`` (a pool's session)         ``connect_to_session``               ``connect_session_direct``
``ConnectToSessionViaDomain``                   ``connect_to_session_via_domain``    ``connect_session_via_domain``
==============================================  ===================================  ==========================

::

    from hostgate.connector import connect_to_model_via_domain

    with connect_to_model_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
                                     ca_file=Path("ca.pem")) as session:
        session.set_current_entity("CustomerList")
        customers = session.fetch_records("customers", max_records=50)
        found = session.query("SELECT name FROM customers WHERE city = 'PARIS'")

An application that connects again and again keeps a :class:`Connector` (``AsyncConnector``): its connects
reuse the connections to the cluster and the session servers, and direct tokens, instead of making them anew::

    with Connector("vhi-prod-sea", user="u", password="p", ca_file=Path("ca.pem")) as hg:
        with hg.connect_to_session_via_domain("prod", "orders") as session:
            session.perform_entity_operation("Submit", {"number": 42})

Errors are ``hostgate.errors`` classes with stable codes; the ones an application usually handles are
re-exported here.
"""

from hostgate.connector.cluster import ClusterClient
from hostgate.connector.location import ClusterLocation
from hostgate.connector.session import (
    AsyncConnector,
    AsyncSession,
    Records,
    connect_direct,
    connect_session_direct,
    connect_session_via_domain,
    connect_via_domain,
)
from hostgate.connector.sync import (
    Connector,
    Session,
    connect_to_model,
    connect_to_model_via_domain,
    connect_to_session,
    connect_to_session_via_domain,
)
from hostgate.errors import (
    EntityNotRecognized,
    FeatureNotAvailable,
    HostError,
    HostgateError,
    ModelNotFound,
    ModelRuntimeError,
    NoServerAvailable,
    PoolNotInDomain,
    PoolQueueFull,
    PoolVariablesExhausted,
    PoolWaitTimeout,
    SessionLost,
    SessionNotFound,
    UnexpectedEntity,
)

__all__ = [
    "AsyncConnector",
    "AsyncSession",
    "ClusterClient",
    "ClusterLocation",
    "Connector",
    "EntityNotRecognized",
    "FeatureNotAvailable",
    "HostError",
    "HostgateError",
    "ModelNotFound",
    "ModelRuntimeError",
    "NoServerAvailable",
    "PoolNotInDomain",
    "PoolQueueFull",
    "PoolVariablesExhausted",
    "PoolWaitTimeout",
    "Records",
    "Session",
    "SessionLost",
    "SessionNotFound",
    "UnexpectedEntity",
    "connect_direct",
    "connect_session_direct",
    "connect_session_via_domain",
    "connect_to_model",
    "connect_to_model_via_domain",
    "connect_to_session",
    "connect_to_session_via_domain",
    "connect_via_domain",
]
