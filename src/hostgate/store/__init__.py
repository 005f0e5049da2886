"""Replicated storage: the ``Store`` contract, its SQLite and etcd backends and the etcd member supervisor.

``open_store(settings)`` picks the backend the configuration names::

    store = open_store(settings)      # SqliteStore or EtcdStore
    kv = await store.get("/hostgate/cluster/info")
    await store.close()
"""

import os

# hostgate forks only to exec etcd. grpc's fork handlers would print "skipping fork() handlers" and start a
# poller in the child between fork and exec; grpc reads this once, when it is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

from hostgate.config.settings import Settings, StoreBackend
from hostgate.store.base import EventKind, KeyValue, MemberInfo, Store, StoreEvent, StoreStatus

__all__ = ["EventKind", "KeyValue", "MemberInfo", "Store", "StoreEvent", "StoreStatus", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store this server's configuration names: SQLite in the data directory, or etcd over TLS.

    For etcd the local member comes first, then any ``etcd.endpoints``. Nothing is dialled until first use.
    """
    if settings.store is StoreBackend.ETCD:
        from hostgate.store.etcd import EtcdStore  # grpc is loaded only by servers that use etcd

        return EtcdStore.from_settings(settings)
    from hostgate.store.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path, member_name=settings.server.member_name)
