"""Acceptance: after `hostgate user passwd` through one member of a 3-member etcd cluster, the old password and
every login token issued before stop working on EVERY member (each checks against its own in-memory copy; the
remembered verifications are keyed by the password hash, login tokens carry a digest of it), and a login token
issued by one member is accepted by the others (they hold the public token keys)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from hostgate.cli.lab import Installation, installation, poll, start_cluster

pytestmark = [pytest.mark.slow]

OLD, NEW = "cy-password-1", "cy-password-2"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("three")) as inst:
        start_cluster(inst, 3)
        yield inst


def test_a_password_change_ends_the_old_password_and_logins_on_every_member(cluster: Installation) -> None:
    inst = cluster
    old_file, new_file = inst.root / "cy.pw", inst.root / "cy-new.pw"
    old_file.write_text(OLD + "\n")
    new_file.write_text(NEW + "\n")
    inst.hostgate("user", "add", "cy", "--new-password-file", str(old_file), *inst.client_args())
    ctx = ssl.create_default_context(cafile=str(inst.ca_file))
    first = inst.members[0]

    def whoami(url: str, **kw: object) -> httpx.Response:
        return httpx.get(f"{url}/api/v1/whoami", verify=ctx, timeout=30.0, **kw)  # type: ignore[arg-type]

    with httpx.Client(verify=ctx, timeout=30.0) as api:
        # Each member sees the account (replicated), and remembers the verified password from now on.
        for m in inst.members:
            poll(f"{m.name} to know cy", lambda m=m: whoami(m.url, auth=("cy", OLD)).status_code == 200)
        token = api.post(f"{first.url}/api/v1/login", auth=("cy", OLD), json={}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for m in inst.members:
        assert whoami(m.url, headers=bearer).json()["name"] == "cy", m.name

    via = inst.members[1]
    inst.hostgate(
        "user", "passwd", "--user", "cy", "--password-file", str(old_file), "--new-password-file", str(new_file),
        "--server", via.target, "--ca-file", str(inst.ca_file),
    )  # fmt: skip
    for m in inst.members:
        # The changing member answered after its own copy showed the change; the others follow their watch.
        poll(
            f"{m.name} to refuse the old password",
            lambda m=m: whoami(m.url, auth=("cy", OLD)).status_code == 401,
        )
        refused = whoami(m.url, headers=bearer)
        assert refused.status_code == 401 and refused.json()["code"] == "HG-3241", (m.name, refused.text)
        assert whoami(m.url, auth=("cy", NEW)).status_code == 200, m.name
