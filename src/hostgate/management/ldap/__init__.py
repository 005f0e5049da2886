"""LDAP / Active Directory authentication: settings (config.py), one directory asked once (client.py),
several directories in order off the event loop (provider.py)."""

from hostgate.management.ldap.client import DirectoryIdentity
from hostgate.management.ldap.config import DirectoryConfig, LdapSettings, NestedGroups, TlsMode
from hostgate.management.ldap.provider import DirectoryAuthenticator

__all__ = [
    "DirectoryAuthenticator",
    "DirectoryConfig",
    "DirectoryIdentity",
    "LdapSettings",
    "NestedGroups",
    "TlsMode",
]
