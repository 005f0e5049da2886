"""docs/ and the README link only to files of this repository (issue #21): a clone, a wheel's sdist or the
GitHub view shows every link working, and none points at a checkout's neighbours (``../shared/...``) or at one
machine's absolute paths.

Every relative link (inline ``[text](target)``, images, reference definitions ``[x]: target``) must resolve to
an existing file inside the repository. Code blocks and inline code are not links and are skipped; path-like
text that escapes the repository is refused there too, since a reader would follow it by hand.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_INLINE = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_DEFINITION = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#)", re.I)
# Path-like text that leaves the repository, names one machine's directories, or the team's notes kept beside
# the checkout (shared/): none of them exists in a clone.
_ESCAPING = re.compile(
    r"(?:^|[\s`(\"'])(\.\./\S*|/(?:work|home|root|tmp|Users)/\S+|file://\S+|shared/(?:reference/)?\S+)"
)


def _targets(text: str) -> list[str]:
    prose = _CODE.sub("", _FENCE.sub("", text))
    return [m.group(1) for m in _INLINE.finditer(prose)] + [m.group(1) for m in _DEFINITION.finditer(prose)]


def _inside(path: Path) -> bool:
    return path.resolve().is_relative_to(ROOT)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_to_a_file_of_the_repository(doc: Path) -> None:
    bad = []
    for target in _targets(doc.read_text(encoding="utf-8")):
        if _EXTERNAL.match(target):
            continue
        path = (doc.parent / unquote(target.split("#", 1)[0])).resolve()
        if target.startswith("/") or not _inside(path) or not path.exists():
            bad.append(target)
    assert not bad, f"{doc.relative_to(ROOT)}: links outside the repository or to nothing: {bad}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_path_text_points_outside_the_repository(doc: Path) -> None:
    found = []
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        for m in _ESCAPING.finditer(line):
            text = m.group(1).rstrip(".,;:)`'\"")
            if text.startswith("../") and _inside(doc.parent / text) and (doc.parent / text).exists():
                continue  # e.g. docs/ naming ../samples/...: inside the repository
            found.append(f"line {n}: {text}")
    assert not found, f"{doc.relative_to(ROOT)} names paths outside the repository: {found}"


def test_the_checker_sees_links_and_skips_code() -> None:
    text = '[a](x.md) ![i](img/p.png "t")\n`[b](no.md)`\n```\n[c](no2.md)\n```\n[d]: ../y.md\n'
    assert _targets(text) == ["x.md", "img/p.png", "../y.md"]
