"""``plugin-cfg.xml``: the web-service layer's settings (VHI's file of the same name), re-read when it changes.

VHI's web services find the management server through ``<entry key="serverName">localhost</entry>`` in
``plugin-cfg.xml``, to be changed to the management cluster's alias. hostgate keeps the file and the entry at
``DATA_DIR/webservices/plugin-cfg.xml`` (written with the default when missing) and reads these keys::

    <plugin-cfg>
      <entry key="serverName">vhi-prod-sea:9440</entry>   <!-- the cluster's alias[:port]; default localhost -->
      <entry key="domain">prod</entry>                    <!-- default domain of a call; default "default" -->
      <entry key="pool.orders">orders-pool</entry>        <!-- stateless calls of model orders use this pool -->
    </plugin-cfg>

Unknown keys are kept and ignored (VHI's file carries more). The file is parsed with ``defusedxml`` (no DTD,
no entities, nothing fetched), and read again when its mtime or size changes, at the next call: no restart.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from hostgate.errors import PluginConfigInvalid

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_SERVER_NAME", "PLUGIN_CFG", "PluginConfig", "PluginConfigFile"]

PLUGIN_CFG = Path("webservices") / "plugin-cfg.xml"
DEFAULT_SERVER_NAME = "localhost"
DEFAULT_DOMAIN = "default"
_MAX_SIZE = 1_048_576
_DEFAULT_TEXT = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- hostgate web services (docs/webservices.md). serverName: the management cluster's alias[:port]. -->
<plugin-cfg>
  <entry key="serverName">{DEFAULT_SERVER_NAME}</entry>
</plugin-cfg>
"""


@dataclass(frozen=True, slots=True)
class PluginConfig:
    """The file's entries. ``pools``: model → pool for stateless calls."""

    server_name: str = DEFAULT_SERVER_NAME
    domain: str = DEFAULT_DOMAIN
    pools: tuple[tuple[str, str], ...] = ()
    source: str = "default"  # where the values came from (named in errors)

    def pool_for(self, model: str) -> str:
        return dict(self.pools).get(model, "")


def parse_plugin_cfg(text: bytes, source: str) -> PluginConfig:
    """The entries of ``text``; raises ``PluginConfigInvalid`` naming ``source`` for anything malformed."""
    try:
        root = SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise PluginConfigInvalid(f"{source} is not usable XML: {exc}") from None
    values: dict[str, str] = {}
    for entry in root.iter("entry"):
        key = entry.get("key")
        if not key:
            raise PluginConfigInvalid(f"{source}: an <entry> without a key attribute")
        values[key] = (entry.text or "").strip()
    server = values.get("serverName", DEFAULT_SERVER_NAME)
    if not server or any(c.isspace() for c in server) or "/" in server:
        raise PluginConfigInvalid(f"{source}: serverName {server[:80]!r} is not an alias[:port]")
    pools = tuple(sorted((k[5:], v) for k, v in values.items() if k.startswith("pool.") and v))
    return PluginConfig(server, values.get("domain") or DEFAULT_DOMAIN, pools, source)


@dataclass(slots=True)
class PluginConfigFile:
    """The file at ``path``, read again whenever its (mtime, size) changed since the last read.

    ``current()`` is cheap when nothing changed (one ``stat``); it writes the default file when none exists.
    A file that became invalid raises ``PluginConfigInvalid`` until it is fixed (calls fail loudly rather
    than go on with a cluster the operator meant to leave).
    """

    path: Path
    _seen: tuple[int, int] | None = field(default=None, init=False)
    _value: PluginConfig = field(default_factory=PluginConfig, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def ensure(self) -> None:
        """Write the default file (``serverName`` localhost) when there is none."""
        if self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".xml.tmp")
        tmp.write_text(_DEFAULT_TEXT)
        os.replace(tmp, self.path)

    def current(self) -> PluginConfig:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self.ensure()
            st = self.path.stat()
        # mtime_ns and size: an editor that rewrites within one mtime tick usually changes the size too.
        seen = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if seen == self._seen:
                return self._value
            if st.st_size > _MAX_SIZE:
                raise PluginConfigInvalid(f"{self.path} is larger than {_MAX_SIZE} bytes")
            value = parse_plugin_cfg(self.path.read_bytes(), str(self.path))
            self._seen, self._value = seen, value
            return value
