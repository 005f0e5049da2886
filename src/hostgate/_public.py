"""What of an error message may leave the host: echoed input bounded, server-side paths hidden.

Issue #15, finding 8: error answers quoted whole inputs (a 1 MB field value came back whole, so every bad
request cost the server its size twice over and filled logs and clients' screens) and absolute paths of the data
directory (``/srv/hostgate/session01/models/x.yaml``: how the server is laid out, to anyone with a token).

Messages are written where the error is raised, by many hands, so they are bounded once, on the way out
(``HostgateError.to_payload``, which every HTTP face and recorded answer uses):

- a quoted value (Python ``repr`` quoting, ``'...'`` or ``"..."``) longer than :data:`QUOTE_LIMIT` characters
  keeps its first :data:`QUOTE_LIMIT` and says how long it was;
- a whole message longer than :data:`MESSAGE_LIMIT` (an unquoted echo) is cut the same way;
- an absolute path whose first component is a directory of this host (``/tmp``, ``/srv``, ``/home``, ...) is
  shortened to ``…/<file name>``; URL paths such as ``/api/v1/sessions`` are left alone (no ``/api`` here).
  The CLI keeps the paths of its own host (``to_payload(public=False)``).
"""

from __future__ import annotations

import os
import re

__all__ = ["MESSAGE_LIMIT", "QUOTE_LIMIT", "public_text"]

QUOTE_LIMIT = 200
MESSAGE_LIMIT = 2000

_MIN = QUOTE_LIMIT + 1
_LONG_QUOTED = re.compile(rf"'(?:[^'\\]|\\.){{{_MIN},}}'|\"(?:[^\"\\]|\\.){{{_MIN},}}\"", re.DOTALL)
# A path starts after a space, quote, bracket or "=" (not after a host:port or a word: URLs stay whole).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/@-])/([\w.@+~-]+)((?:/[\w.@+~-]*)*)")


def _bound_quote(match: re.Match[str]) -> str:
    quoted = match.group(0)
    inner = quoted[1:-1]
    return f"{quoted[0]}{inner[:QUOTE_LIMIT]}…{quoted[0]} ({len(inner)} characters)"


def _hide_path(match: re.Match[str]) -> str:
    first, rest = match.group(1), match.group(2)
    if not os.path.isdir("/" + first):  # not a path of this host (a URL path, "/s", a ratio)
        return match.group(0)
    name = (first + rest).rstrip("/").rsplit("/", 1)[-1]
    return f"…/{name}"


def public_text(text: str, *, hide_paths: bool = True) -> str:
    """``text`` with long quoted values bounded, then cut at :data:`MESSAGE_LIMIT`; paths hidden if asked."""
    text = _LONG_QUOTED.sub(_bound_quote, text)
    if hide_paths:
        text = _ABSOLUTE_PATH.sub(_hide_path, text)
    if len(text) > MESSAGE_LIMIT:
        text = f"{text[:MESSAGE_LIMIT]}… ({len(text)} characters)"
    return text
