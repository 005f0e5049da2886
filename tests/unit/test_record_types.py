"""Store records are decoded with every field type-checked (issue #16: ``_Record.decode`` checked no types).

Before, ``{"port": "9440"}`` became a ``MemberRecord`` whose ``port`` was a string, and a domain member with a
numeric server name travelled on into routing: the fault surfaced far away. Now the record is ``StoreCorrupt``
(HG-2005) naming its key, while fields a newer version added are still ignored.
"""

from __future__ import annotations

import json

import pytest

from hostgate.errors import StoreCorrupt
from hostgate.management.records import DomainMember, DomainRecord, MemberRecord, TokenKey, TokenKeySet

MEMBER = {
    "name": "m1",
    "address": "127.0.0.1",
    "port": 9440,
    "peer_url": "https://127.0.0.1:2380",
    "client_url": "https://127.0.0.1:2379",
    "joined_at": 1.0,
}


@pytest.mark.parametrize(
    ("cls", "data", "field"),
    [
        (MemberRecord, {**MEMBER, "port": "9440"}, "port"),
        (MemberRecord, {k: v for k, v in MEMBER.items() if k != "name"}, "name"),
        (DomainRecord, {"name": "d", "members": [{"server": 1}]}, "members[0].server"),
        (DomainRecord, {"name": "d", "members": {"server": "s"}}, "members"),
        (
            TokenKeySet,
            {"keys": [{"kid": "k", "private_pem": "p", "public_b64": "b", "created_at": "x"}]},
            "created_at",
        ),
    ],
)
def test_a_record_with_a_wrong_field_is_store_corrupt_naming_key_and_field(
    cls: type, data: dict[str, object], field: str
) -> None:
    with pytest.raises(StoreCorrupt) as caught:
        cls.decode("/hostgate/x", json.dumps(data).encode())
    assert "/hostgate/x" in caught.value.message and field in caught.value.message, caught.value.message


def test_records_round_trip_and_ignore_fields_of_a_newer_version() -> None:
    member = MemberRecord.decode("/k", json.dumps({**MEMBER, "zone": "a"}).encode())
    assert member == MemberRecord(
        "m1", "127.0.0.1", 9440, "https://127.0.0.1:2380", "https://127.0.0.1:2379", 1.0
    )
    domain = DomainRecord("d", (DomainMember("s1", 2, 1),))
    assert DomainRecord.decode("/k", domain.encode()) == domain
    keys = TokenKeySet((TokenKey("k", "p", "b", 1.0),))
    assert TokenKeySet.decode("/k", keys.encode()) == keys
    assert isinstance(DomainRecord.decode("/k", domain.encode()).members, tuple)
