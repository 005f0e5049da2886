"""Shared test configuration. Keep it small: fixtures live next to their helpers in tests/helpers/."""

import os

# Must precede the first `import grpc`: the etcd helpers fork etcd while gRPC channels are open, and gRPC's
# fork handlers only add noise there (hostgate.store sets the same default for the server).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

pytest_plugins = ("tests.helpers.etcd",)
