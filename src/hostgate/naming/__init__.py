"""Alias resolution and the staggered dialer: the bottom of the cluster-alias capability (VHI KB 7021563).

``AliasResolver.resolve(alias)`` turns a cluster alias into the addresses to try, re-reading hosts files and
asking DNS afresh every time; ``dial`` / ``first_answer`` then try those addresses staggered, first answer
wins.

    resolver = AliasResolver(hosts_file="hosts", dns_servers=["127.0.0.1:5353"])
    host, port = parse_target("vhi-prod-sea:9440", DEFAULT_PORT)
    resolution = await resolver.resolve(host)
    address, answer = await dial(host, resolution.addresses, attempt, last_good=last_good)
"""

from hostgate.naming.dialer import AttemptFault, LastGood, dial, first_answer
from hostgate.naming.dns import DnsAnswer, DnsClient, NameServer, parse_name_server
from hostgate.naming.hosts_file import (
    HostsEntry,
    HostsFile,
    IPAddress,
    SkippedLine,
    check_name,
    normalize_name,
    parse_hosts,
    read_hosts_file,
)
from hostgate.naming.resolver import (
    DEFAULT_SOURCES,
    SYSTEM_HOSTS,
    AliasResolver,
    Resolution,
    Source,
    SourceAnswer,
    SourceStatus,
    SystemLookup,
    getaddrinfo_lookup,
)
from hostgate.naming.stagger import AttemptDelay, DelayStats
from hostgate.naming.target import format_target, is_ip_literal, parse_target, url_host

__all__ = [
    "DEFAULT_SOURCES",
    "SYSTEM_HOSTS",
    "AliasResolver",
    "AttemptDelay",
    "AttemptFault",
    "DelayStats",
    "DnsAnswer",
    "DnsClient",
    "HostsEntry",
    "HostsFile",
    "IPAddress",
    "LastGood",
    "NameServer",
    "Resolution",
    "SkippedLine",
    "Source",
    "SourceAnswer",
    "SourceStatus",
    "SystemLookup",
    "check_name",
    "dial",
    "first_answer",
    "format_target",
    "getaddrinfo_lookup",
    "is_ip_literal",
    "normalize_name",
    "parse_hosts",
    "parse_name_server",
    "parse_target",
    "read_hosts_file",
    "url_host",
]
