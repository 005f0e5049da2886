"""Chromium that reaches the members through ONE alias naming every member, as a user's browser would.

"The alias itself is the console's address": the alias is a name with an address per member, and the browser
must try the next address when one refuses. Two facts, checked on this machine (Chromium 1xx, Debian):

- Chromium's built-in resolver ("AsyncDns", on by default on Linux) reads /etc/hosts itself but keeps ONE
  address per name, so a dead first member is ``ERR_CONNECTION_REFUSED``; with ``--disable-features=AsyncDns``
  it asks the system's getaddrinfo, which returns every address of the name (glibc), and Chromium's connect
  job tries them in order, falling over on a refusal.
- ``--host-resolver-rules`` maps a name to one address only.

So, without touching the machine's /etc/hosts: a wrapper executable (passed as ``executable_path``) runs
Chromium in a private mount namespace (``unshare --mount``, root only) with a private hosts file bind-mounted
over /etc/hosts. Not root: :func:`alias_browser` returns ``None`` and the tests say why they fall back.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

__all__ = ["ALIAS_FALLBACK_REASON", "alias_browser", "can_use_alias"]

ALIAS_FALLBACK_REASON = (
    "a private /etc/hosts for Chromium needs a mount namespace (`unshare --mount`), which needs root; "
    "Chromium's --host-resolver-rules can map a name to one address only"
)


def can_use_alias() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def alias_browser(
    driver: Playwright, chromium: str, directory: Path, alias: str, addresses: list[str]
) -> Browser | None:
    """A headless Chromium whose /etc/hosts names ``addresses`` as ``alias`` (in that order); None if not root."""
    if not can_use_alias():
        return None
    hosts = directory / "hosts"
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"] + [f"{a} {alias}" for a in addresses]
    hosts.write_text("\n".join(lines) + "\n")
    wrapper = directory / "chromium-alias"
    # $0 is the hosts file inside `sh -c`; the rest are Playwright's arguments, passed on untouched (its pipes,
    # fds 3 and 4, survive both execs).
    wrapper.write_text(
        "#!/bin/sh\n"
        "exec unshare --mount -- /bin/sh -c "
        f'\'mount --bind "$0" /etc/hosts && exec "{chromium}" "$@"\' "{hosts}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return driver.chromium.launch(
        executable_path=str(wrapper),
        headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-features=AsyncDns"],
    )
