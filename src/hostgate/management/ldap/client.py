"""One directory, asked once: bind as the service account, find the user, bind as the user, collect the groups.

Blocking (ldap3's synchronous strategy): :mod:`hostgate.management.ldap.provider` runs it on a worker thread,
never on the event loop. Every socket operation is bounded by the directory's ``connect_timeout`` and
``timeout``, so a directory that accepts TCP and never answers (a stopped process) costs at most those.

The outcome is one of: a :class:`DirectoryIdentity`; :class:`NotInDirectory` (ask the next directory);
:class:`DirectoryDown` (this directory could not decide: ask the next one, report it if nobody decides); or
``AuthenticationFailed`` (the directory knows the user and refused the password: final).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from hostgate.errors import AuthenticationFailed, DirectoryUnavailable, DirectoryUserAmbiguous
from hostgate.management.ldap.config import (
    IN_CHAIN_RULE,
    DirectoryConfig,
    NestedGroups,
    TlsMode,
    resolve_secret,
)

__all__ = [
    "DirectoryDown",
    "DirectoryIdentity",
    "NotInDirectory",
    "ask_directory",
    "group_filter",
    "user_filter",
]

log = logging.getLogger("hostgate.security.ldap")

# LDAP_CAP_ACTIVE_DIRECTORY_OID in the root DSE's supportedCapabilities ([MS-ADTS] 3.1.1.3.4.3): the server
# is Active Directory, so it evaluates the in-chain matching rule.
_AD_CAPABILITY = "1.2.840.113556.1.4.800"


@dataclass(frozen=True, slots=True)
class DirectoryIdentity:
    """Who the directory says the user is: the DN it bound as, and its groups (nested ones included)."""

    user: str
    dn: str
    directory: str
    groups: tuple[str, ...]
    nested: str  # how nested groups were found: "in_chain", "iterative", "off"
    group_dns: tuple[str, ...] = ()  # the same groups' DNs, as the directory returned them (for grants)


class NotInDirectory(Exception):
    """The directory has no entry for the user: the next directory may (VHI tries the next only then)."""


class DirectoryDown(Exception):
    """The directory could not decide (unreachable, silent, TLS refused, service bind refused)."""


def user_filter(directory: DirectoryConfig, user: str) -> str:
    # RFC 4515 §3 escaping: "*)(uid=*" becomes a literal value that matches nothing (no LDAP injection).
    return directory.user_filter.replace("{user}", escape_filter_chars(user))


def group_filter(directory: DirectoryConfig, member_dns: list[str], *, in_chain: bool) -> str:
    attribute = directory.member_attribute + (f":{IN_CHAIN_RULE}:" if in_chain else "")
    members = "".join(f"({attribute}={escape_filter_chars(dn)})" for dn in member_dns)
    if len(member_dns) > 1:
        members = f"(|{members})"
    return f"(&{directory.group_filter}{members})"


class _VerifiedTls(ldap3.Tls):
    """ldap3's Tls with the standard library's own verification: ldap3 2.9.1 turns the context's
    ``check_hostname`` off and calls ``ssl.match_hostname`` itself, which is deprecated (and gone in Python
    3.12). Here the handshake checks the chain against the CA *and* the name (or IP address) in the URL."""

    def __init__(self, ca_file: str, host: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file or None)
        self._context = ssl.create_default_context(cafile=ca_file or None)  # TLS >= 1.2, CERT_REQUIRED
        self._host = host

    def wrap_socket(self, connection: ldap3.Connection, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket, server_hostname=self._host, do_handshake_on_connect=do_handshake
        )


def _server(directory: DirectoryConfig, url: str) -> ldap3.Server:
    parts = urlsplit(url)
    ldaps = directory.tls is TlsMode.LDAPS
    host = parts.hostname or ""
    try:
        tls = _VerifiedTls(directory.ca_file, host)
    except (LDAPException, OSError) as exc:
        raise DirectoryDown(f"the CA file {directory.ca_file} cannot be used ({exc})") from None
    return ldap3.Server(
        host,
        port=parts.port or (636 if ldaps else 389),
        use_ssl=ldaps,
        tls=tls,
        connect_timeout=directory.connect_timeout,
        get_info=ldap3.NONE,
    )


def _fault(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"


@contextmanager
def _connection(directory: DirectoryConfig, who: str, password: str) -> Iterator[ldap3.Connection]:
    """An open connection (TLS established as configured, not yet bound), from the first URL that answers."""
    faults: list[str] = []
    for url in directory.urls:
        server = _server(directory, url)
        conn = ldap3.Connection(
            server,
            user=who or None,
            password=password or None,
            receive_timeout=directory.timeout,
            read_only=True,
            auto_referrals=False,  # never follow a referral to a server nobody configured
            raise_exceptions=False,
        )
        try:
            conn.open()
            # StartTLS before any bind (RFC 4513 §3.1.1): a refusal or a failed handshake is this URL's fault.
            if directory.tls is TlsMode.STARTTLS:
                conn.start_tls()
        except LDAPException as exc:
            faults.append(f"{url}: {_fault(exc)}")
            _close(conn)
            continue
        try:
            yield conn
        finally:
            _close(conn)
        return
    raise DirectoryDown("; ".join(faults))


def _close(conn: ldap3.Connection) -> None:
    with suppress(LDAPException):
        conn.unbind()
    # ldap3 2.9.1 leaves the socket open when connect() or the TLS handshake failed (unbind sees "closed").
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with suppress(OSError):
            sock.close()


def _entries(conn: ldap3.Connection) -> list[dict[str, object]]:
    return [r for r in (conn.response or []) if r.get("type") == "searchResEntry"]


def _search(
    conn: ldap3.Connection, base: str, flt: str, attributes: list[str], what: str, size_limit: int = 0
) -> None:
    try:
        ok = conn.search(base, flt, search_scope=ldap3.SUBTREE, attributes=attributes, size_limit=size_limit)
    except LDAPException as exc:
        raise DirectoryDown(f"{what}: {_fault(exc)}") from None
    description = (conn.result or {}).get("description", "")
    # noSuchObject means the base DN does not exist: a wrong setting, shown as this directory's fault rather
    # than as "no such user" for everyone.
    if not ok and description not in ("success", "sizeLimitExceeded"):
        raise DirectoryDown(
            f"{what} under {base!r} failed: {description} {conn.result.get('message', '')}".strip()
        )


def ask_directory(directory: DirectoryConfig, user: str, password: str) -> DirectoryIdentity:
    """Authenticate ``user`` in ``directory`` (blocking; see the module doc for the outcomes)."""
    if not password:
        raise AssertionError("empty passwords are refused before any directory is asked")
    with _service_connection(directory) as service:
        dn = _find_user(service, directory, user)
        _bind_as_user(directory, dn, password)
        groups, dns, how = _groups(service, directory, dn)
    return DirectoryIdentity(
        user=user, dn=dn, directory=directory.name, groups=groups, nested=how, group_dns=dns
    )


@contextmanager
def _service_connection(directory: DirectoryConfig) -> Iterator[ldap3.Connection]:
    with _connection(directory, directory.bind_dn, _secret(directory)) as service:
        try:
            bound = service.bind()
        except LDAPException as exc:
            raise DirectoryDown(f"service bind: {_fault(exc)}") from None
        if not bound:
            raise DirectoryDown(
                f"the service account {directory.bind_dn or '(anonymous)'} was refused: "
                f"{service.result.get('description', '')}"
            )
        yield service


def look_up(directory: DirectoryConfig, user: str) -> DirectoryIdentity:
    """What ``directory`` says about ``user`` without the user's password: the entry and the groups, as the
    service account sees them (``hostgate ldap test``). Same outcomes as :func:`ask_directory`, no user bind."""
    with _service_connection(directory) as service:
        dn = _find_user(service, directory, user)
        groups, dns, how = _groups(service, directory, dn)
    return DirectoryIdentity(
        user=user, dn=dn, directory=directory.name, groups=groups, nested=how, group_dns=dns
    )


def _secret(directory: DirectoryConfig) -> str:
    try:
        return resolve_secret(directory)
    except DirectoryUnavailable as exc:
        raise DirectoryDown(exc.message) from None


def _find_user(service: ldap3.Connection, directory: DirectoryConfig, user: str) -> str:
    # Two entries are enough to know the name is ambiguous; the server stops there (sizeLimitExceeded).
    _search(service, directory.user_base, user_filter(directory, user), [], "user search", size_limit=2)
    found = _entries(service)
    if not found:
        raise NotInDirectory(directory.name)
    if len(found) > 1:
        log.warning("directory %r: user search for %r matched several entries; refused", directory.name, user)
        raise DirectoryUserAmbiguous(f"directory {directory.name!r} has several entries for user {user!r}")
    return str(found[0]["dn"])


def _bind_as_user(directory: DirectoryConfig, dn: str, password: str) -> None:
    with _connection(directory, dn, password) as conn:
        try:
            bound = conn.bind()
        except LDAPException as exc:
            raise DirectoryDown(f"user bind: {_fault(exc)}") from None
        if not bound:
            # invalidCredentials (49), or AD's variants of it (expired, disabled, locked): the directory knows
            # the user and said no. Final: the next directory is not asked with the same password.
            log.info(
                "directory %r refused the bind of %s: %s", directory.name, dn, conn.result.get("description")
            )
            raise AuthenticationFailed("wrong user name or password")


def _is_active_directory(service: ldap3.Connection) -> bool:
    try:
        service.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["supportedCapabilities"])
    except LDAPException as exc:
        raise DirectoryDown(f"root DSE: {_fault(exc)}") from None
    for entry in _entries(service):
        attributes = entry.get("attributes")
        if isinstance(attributes, Mapping) and _AD_CAPABILITY in attributes.get("supportedCapabilities", []):
            return True
    return False


def _groups(
    service: ldap3.Connection, directory: DirectoryConfig, dn: str
) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """The user's groups: their names, their DNs, and how nesting was followed."""
    if not directory.group_base:
        return (), (), "off"
    mode = directory.nested
    if mode is NestedGroups.AUTO:
        mode = NestedGroups.IN_CHAIN if _is_active_directory(service) else NestedGroups.ITERATIVE
    names: dict[str, str] = {}
    attribute = directory.group_name_attribute
    if mode is NestedGroups.IN_CHAIN:
        # The server walks the nesting itself (AD only: other servers do not know the rule).
        _search(
            service, directory.group_base, group_filter(directory, [dn], in_chain=True), [attribute], "groups"
        )
        names.update(_names(service, attribute))
        return tuple(sorted(set(names.values()))), tuple(sorted(names)), mode.value
    frontier = [dn]
    for _depth in range(directory.max_depth if mode is NestedGroups.ITERATIVE else 1):
        _search(
            service,
            directory.group_base,
            group_filter(directory, frontier, in_chain=False),
            [attribute],
            "groups",
        )
        found = {k: v for k, v in _names(service, attribute).items() if k not in names}
        names.update(found)
        # A group already seen is not expanded again: membership loops (A in B, B in A) end here.
        frontier = sorted(found)
        if not frontier:
            break
    else:
        if frontier and mode is NestedGroups.ITERATIVE:
            log.warning(
                "directory %r: groups of %s nest deeper than max_depth %d; deeper groups not counted",
                directory.name, dn, directory.max_depth,
            )  # fmt: skip
    return tuple(sorted(set(names.values()))), tuple(sorted(names)), mode.value


def _names(service: ldap3.Connection, attribute: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for entry in _entries(service):
        value: object = None
        attributes = entry.get("attributes")
        if isinstance(attributes, Mapping):
            value = attributes.get(attribute)
        if isinstance(value, list):
            value = value[0] if value else None
        names[str(entry["dn"])] = str(value) if value else str(entry["dn"])
    return names
