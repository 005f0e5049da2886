"""The connector's public face (STYLE.md 2): ``__all__`` is sorted, complete and importable, and the sync
facade offers every call of the async core."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

import hostgate.connector as connector
from hostgate.connector import cluster, location, session, sync
from hostgate.errors import HostgateError

# Names of the connector modules that only hostgate's own CLI and servers use.
INTERNAL = {"Answer", "cluster_id_of_ca", "DEFAULT_CALL_TIMEOUT"}
USER_MODULES = [session, sync, cluster, location]


def _defined(module: ModuleType) -> set[str]:
    """Public classes and functions defined in ``module`` itself (not imported into it)."""
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    }


def test_all_is_sorted_and_importable() -> None:
    assert connector.__all__ == sorted(connector.__all__)
    assert len(set(connector.__all__)) == len(connector.__all__)
    for name in connector.__all__:
        assert getattr(connector, name) is not None


@pytest.mark.parametrize("module", USER_MODULES, ids=lambda m: m.__name__)
def test_every_public_name_a_user_needs_is_exported(module: ModuleType) -> None:
    missing = _defined(module) - INTERNAL - set(connector.__all__)
    assert not missing, (
        f"{module.__name__} defines {sorted(missing)} but hostgate.connector does not export it"
    )
    assert set(module.__all__) - INTERNAL <= set(connector.__all__)


def test_exported_errors_are_hostgate_errors_and_everything_has_a_docstring() -> None:
    for name in connector.__all__:
        obj = getattr(connector, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, HostgateError), name
        assert inspect.getdoc(obj), f"{name} has no docstring"


def test_the_sync_session_offers_every_call_of_the_async_one() -> None:
    def calls(cls: type) -> set[str]:
        return {n for n, f in vars(cls).items() if not n.startswith("_") and callable(f)}

    assert calls(connector.AsyncSession) <= calls(connector.Session)
    for name in calls(connector.AsyncSession):
        assert inspect.getdoc(getattr(connector.Session, name)), f"Session.{name} has no docstring"


def test_connect_to_session_via_domain_is_the_blocking_twin_of_connect_session_via_domain() -> None:
    # Behaviour over real servers: tests/integration/test_pools_domain.py.
    sync = inspect.signature(connector.connect_to_session_via_domain)
    assert list(sync.parameters) == list(inspect.signature(connector.connect_session_via_domain).parameters)
    assert sync.return_annotation is connector.Session
    assert list(sync.parameters)[:3] == ["alias", "domain", "pool"]


def test_connect_to_session_is_the_blocking_twin_of_connect_session_direct() -> None:
    sync = inspect.signature(connector.connect_to_session)
    assert list(sync.parameters) == list(inspect.signature(connector.connect_session_direct).parameters)
    assert sync.return_annotation is connector.Session


def test_the_blocking_connector_offers_every_connect_of_the_async_one() -> None:
    # Behaviour over real servers: tests/integration/test_pools_e2e.py and test_pools_domain.py.
    twins = {
        "connect_via_domain": "connect_to_model_via_domain",
        "connect_direct": "connect_to_model",
        "connect_session_direct": "connect_to_session",
        "connect_session_via_domain": "connect_to_session_via_domain",
    }
    offered = {
        n for n, f in vars(connector.AsyncConnector).items() if n.startswith("connect") and callable(f)
    }
    assert offered == set(twins)
    for name, blocking in twins.items():
        a = inspect.signature(getattr(connector.AsyncConnector, name))
        b = inspect.signature(getattr(connector.Connector, blocking))
        assert list(a.parameters) == list(b.parameters), name
        assert b.return_annotation in (connector.Session, "Session")
    assert list(inspect.signature(connector.Connector).parameters) == list(
        inspect.signature(connector.AsyncConnector).parameters
    )
