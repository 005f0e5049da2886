"""Names every part of a cluster agrees on, with no code attached (a bottom module: imports nothing).

``CLUSTER_DNS_NAME`` is the DNS name every member certificate carries beside the member's own name and
addresses (``pki.sign_csr`` puts it there). A client that dials several members through one channel (the
etcd store's gRPC channel, ``store/etcd_channel.py``) checks this name instead of each member's address.
Session-server certificates never carry it, so a session server cannot pose as a member.

It lived in ``pki.py``, which made the store load ``cryptography`` for one string (issue #16).
"""

from __future__ import annotations

__all__ = ["CLUSTER_DNS_NAME"]

CLUSTER_DNS_NAME = "hostgate-cluster"
