"""Changing a local account's password (``hostgate user passwd``, ``PUT /api/v1/users/{name}/password``).

* One's own password needs the current one, also when the request came with a CLI login token (a stolen token
  must not be enough to take the account over). The current password is checked through the login guard, so a
  wrong one counts as a failed login (backoff, lockout) and argon2 runs off the event loop, throttled.
* An Administrator resets another account's password without the current one.
* Directory accounts have no password in the cluster: refused (``PasswordNotLocal``).
* Everything is checked before anything is written (the new password's rules name the field); the write is a
  compare-and-set on the user record as read from the store, refused if the password changed meanwhile.

After a change the old password stops working on every member as soon as its copy shows the new record: the
Authenticator remembers verified passwords by (user, hash), and login tokens carry a digest of the hash
(management/cli_tokens.py), so a new hash matches neither.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from hostgate.errors import (
    AuthenticationFailed,
    CompareFailed,
    CurrentPasswordWrong,
    InvalidField,
    PasswordNotLocal,
    UsageError,
    UserNotFound,
)
from hostgate.management.access import Profile
from hostgate.management.login_guard import LoginGuard
from hostgate.management.records import UserRecord, user_key
from hostgate.management.security import Principal, hash_password, validate_new_password
from hostgate.management.service import ManagementService
from hostgate.messages import PasswordChange

__all__ = ["change_password"]

log = logging.getLogger("hostgate.management")


def _check_new(change: PasswordChange, own: bool) -> None:
    try:
        validate_new_password(change.new_password)
    except UsageError as exc:
        raise InvalidField(f"field 'new_password': {exc.message}") from None
    if own and not change.current_password:
        raise InvalidField("field 'current_password': changing your own password needs the current one")
    if own and change.new_password == change.current_password:
        raise InvalidField("field 'new_password': it is the same as the current password")


async def change_password(
    service: ManagementService,
    guard: LoginGuard,
    who: Principal,
    name: str,
    change: PasswordChange,
    source: str,
) -> UserRecord:
    own = name.lower() == who.name.lower()
    if not own:
        service.access.require(who, Profile.ADMINISTRATOR)
    _check_new(change, own)
    key = user_key(name)
    cached = service.cache.decode(key, UserRecord.decode)
    if cached is None:
        if own:
            raise PasswordNotLocal(
                f"user {who.name!r} is managed by the directory; change the password there"
            )
        raise UserNotFound(
            f"no local account named {name!r} (a directory account's password is changed in the directory)"
        )
    if own:
        try:
            await guard.authenticate(cached.name, change.current_password, source)
        except AuthenticationFailed:
            raise CurrentPasswordWrong("field 'current_password': the current password is wrong") from None
    new_hash = await asyncio.to_thread(hash_password, change.new_password)  # ~0.1 s of argon2: off the loop
    kv = await service.store.get(key)
    if kv is None:
        raise UserNotFound(f"no local account named {name!r}")
    stored = UserRecord.decode(key, kv.value)
    if stored.password_hash != cached.password_hash:
        # The current password was checked against a hash that is no longer the stored one.
        raise CompareFailed(f"the password of {name!r} changed meanwhile; try again")
    updated = dataclasses.replace(stored, password_hash=new_hash)
    await service._write(key, updated.encode(), kv.mod_revision)  # compare-and-set, then wait to see it
    log.info("password of user %s changed by %s from %s", stored.name, who.name, source)
    return updated
