"""What `hostgate cluster status` loads (issue #21, start-up): no dnspython unless a DNS lookup really runs.

dnspython's imports cost about 0.1 s (a quarter of the connector's); an alias from a hosts file, or a member's
own address, needs none of it. Checked in fresh interpreters, since an import is a process-wide fact.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _dns_modules_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'dns')))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(out.stdout.splitlines()[-1]))


def test_the_cluster_commands_and_the_connector_load_no_dnspython() -> None:
    assert _dns_modules_after("import hostgate.cli.cluster_cmds, hostgate.connector, hostgate.naming") == []


def test_a_hosts_file_alias_resolves_without_dnspython(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.7 m1 vhi-prod-sea\n")
    code = (
        "import asyncio\n"
        "from pathlib import Path\n"
        "from hostgate.naming import AliasResolver\n"
        f"r = AliasResolver(hosts_file=Path({str(hosts)!r}), dns_servers=['127.0.0.1:9'])\n"
        "found = asyncio.run(r.resolve('vhi-prod-sea'))\n"
        "assert '127.0.0.7' in str(found), found\n"
    )
    assert _dns_modules_after(code) == []


@pytest.mark.parametrize("server", ["127.0.0.1:9"])
def test_a_dns_lookup_still_loads_it_and_answers_coded(server: str) -> None:
    # Nothing listens on the discard port: the lookup fails, described, after loading dnspython on use.
    code = (
        "import asyncio\n"
        "from hostgate.naming.dns import DnsClient\n"
        f"answer = asyncio.run(DnsClient([{server!r}], timeout=0.5).lookup('vhi-prod-sea'))\n"
        "assert answer.failed and answer.addresses == (), answer\n"
    )
    assert "dns.asyncresolver" in _dns_modules_after(code)


def test_the_hostgate_command_does_not_load_httpxs_own_command_line() -> None:
    # httpx's __init__ imports httpx._main (rich.progress, rich.syntax, pygments) when click and rich are there.
    script = (
        "import json, sys\nimport hostgate.cli.main, hostgate.cli.cluster_cmds\nimport httpx\n"
        # A None entry is the "not importable" marker the command sets, not a loaded module.
        "print(json.dumps(sorted(m for m, module in sys.modules.items() if module is not None "
        "and (m.split('.')[0] == 'pygments' or m in ('httpx._main', 'rich.syntax', 'rich.progress')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.splitlines()[-1]) == []
