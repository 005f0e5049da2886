"""Properties of the hosts-file parser: valid files round-trip, garbage only ever raises HostsFileError."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from hostgate.errors import HostsFileError
from hostgate.naming import parse_hosts

LINK_LOCAL = ipaddress.IPv6Network("fe80::1/10", strict=False)

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
labels = st.one_of(
    st.text(alphabet=ALNUM, min_size=1, max_size=1),
    st.builds(
        lambda a, mid, b: a + mid + b,
        st.sampled_from(ALNUM),
        st.text(alphabet=ALNUM + "-", max_size=12),
        st.sampled_from(ALNUM),
    ),
)
names = st.lists(labels, min_size=1, max_size=3).filter(lambda ls: not ls[-1].isdigit()).map(".".join)
plain_addresses = st.ip_addresses().filter(
    lambda a: not (isinstance(a, ipaddress.IPv6Address) and a in LINK_LOCAL)
)
scoped_addresses = st.builds(
    lambda low, zone: ipaddress.IPv6Address(
        f"{ipaddress.IPv6Address(int(LINK_LOCAL.network_address) + low)}%{zone}"
    ),
    st.integers(min_value=0, max_value=2**118 - 1),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8),
)
addresses = st.one_of(plain_addresses, scoped_addresses)
separators = st.text(alphabet=" \t", min_size=1, max_size=3)
comments = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=20
).map(lambda t: "#" + t)


@st.composite
def hosts_files(draw: st.DrawFn) -> tuple[str, list[tuple[int, str, tuple[str, ...]]]]:
    """A valid hosts file, and the (line, address, names) entries it holds."""
    lines: list[str] = []
    expected: list[tuple[int, str, tuple[str, ...]]] = []
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        kind = draw(st.sampled_from(["entry", "entry", "entry", "blank", "comment"]))
        if kind == "blank":
            lines.append(draw(st.text(alphabet=" \t", max_size=3)))
            continue
        if kind == "comment":
            lines.append(draw(st.text(alphabet=" \t", max_size=2)) + draw(comments))
            continue
        address = draw(addresses)
        entry_names = tuple(draw(st.lists(names, min_size=1, max_size=4)))
        text = draw(st.text(alphabet=" \t", max_size=2)) + str(address)
        for name in entry_names:
            text += draw(separators) + name
        if draw(st.booleans()):
            text += draw(st.text(alphabet=" \t", max_size=2)) + draw(comments)
        lines.append(text)
        expected.append((len(lines), str(address), entry_names))
    return newline.join(lines) + draw(st.sampled_from(["", newline])), expected


@given(hosts_files())
def test_valid_files_round_trip(case: tuple[str, list[tuple[int, str, tuple[str, ...]]]]) -> None:
    text, expected = case
    hosts = parse_hosts(text, strict=True)
    assert [(e.line, str(e.address), e.names) for e in hosts.entries] == expected
    assert parse_hosts(text, strict=False) == hosts


@given(hosts_files(), st.data())
def test_lookup_gives_every_address_of_a_name_in_file_order_any_case(
    case: tuple[str, list[tuple[int, str, tuple[str, ...]]]], data: st.DataObject
) -> None:
    text, expected = case
    hosts = parse_hosts(text.encode(), strict=True)
    for _, _, entry_names in expected:
        for name in entry_names:
            wanted = list(
                dict.fromkeys(addr for _, addr, ns in expected if name.lower() in (n.lower() for n in ns))
            )
            asked = data.draw(st.sampled_from([name, name.upper(), name.lower(), name + "."]))
            assert [str(a) for a in hosts.lookup(asked)] == wanted


@given(st.one_of(st.text(), st.binary()))
def test_garbage_only_ever_raises_hosts_file_error(garbage: str | bytes) -> None:
    lenient = parse_hosts(garbage, strict=False)
    try:
        strict = parse_hosts(garbage, strict=True)
    except HostsFileError as exc:
        assert lenient.skipped, "strict mode refused a file in which lenient mode found nothing wrong"
        assert exc.message.startswith(f"<hosts>:{lenient.skipped[0].line}: ")
    else:
        assert lenient.skipped == ()
        assert strict == lenient


@given(
    st.lists(
        st.one_of(
            st.text(alphabet="0123456789abcdef.:%#- \t\r\n_xyzXYZ", max_size=30),
            st.sampled_from(["10.0.0.1 w1 vhi", "::1 v6", "# c", "", "10.0.0.1", "w1 vhi", "fe80::1 x"]),
        ),
        max_size=10,
    )
)
def test_near_miss_lines_are_either_entries_or_skipped_never_both(lines: list[str]) -> None:
    text = "\n".join(lines)
    hosts = parse_hosts(text, strict=False)
    entry_lines = {e.line for e in hosts.entries}
    skipped_lines = {s.line for s in hosts.skipped}
    assert not entry_lines & skipped_lines
    for entry in hosts.entries:
        assert entry.names
        for name in entry.names:
            assert hosts.lookup(name), f"{name} of line {entry.line} is not found"
