"""docs/api/openapi.json and docs/api.md are generated from the admin API's OpenAPI document (issue #21); they
must not drift from the code, and the committed document is the one a member serves."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

from hostgate.errors import _all_coded
from hostgate.messages.endpoints import ENDPOINTS
from tests.helpers.inprocess import start_member

ROOT = Path(__file__).resolve().parents[2]
HINT = "run .venv/bin/python scripts/gen_api_docs.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_api_docs", ROOT / "scripts" / "gen_api_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_openapi_document_is_current() -> None:
    gen = _generator()
    current = (ROOT / "docs" / "api" / "openapi.json").read_text(encoding="utf-8")
    assert current == gen.render_json(gen.document()), f"docs/api/openapi.json is stale: {HINT}"


def test_the_api_reference_page_is_current() -> None:
    gen = _generator()
    current = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert current == gen.render_markdown(gen.document()), f"docs/api.md is stale: {HINT}"


def test_the_reference_lists_every_route_with_who_body_answer_and_known_codes() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    headings = re.findall(r"^### `([A-Z]+) (\S+)`$", text, re.M)
    assert sorted(headings) == sorted((e.method, e.path) for e in ENDPOINTS)
    for block in text.split("\n### `")[1:]:
        if "**Who:**" not in block:
            continue  # a message type's section
        for part in ("**Request body:**", "**Answer:**", "**Errors:**"):
            assert part in block, block[:200]
    coded = _all_coded()
    catalogue = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for code in set(re.findall(r"HG-\d{4}", text)):
        assert code in coded and f"| {code} |" in catalogue, code


async def test_a_member_serves_the_committed_document(tmp_path: Path) -> None:
    member = await start_member(tmp_path)
    try:
        async with member.http() as api:
            served = (await api.get("/api/v1/openapi.json")).json()
    finally:
        await member.close()
    assert served == json.loads((ROOT / "docs" / "api" / "openapi.json").read_text(encoding="utf-8"))
