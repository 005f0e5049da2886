"""The connector's per-call path does no work that belongs to start-up (bench/sessions.py, issue #16)."""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

import httpcore._synchronization as sync


class _Spy(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        self.searched.append(fullname)
        return None


def test_a_request_searches_no_module() -> None:
    # httpcore asks which async library runs on every request (its locks and cancel shields) by importing
    # sniffio; without sniffio installed, Python does not cache the failure and every request searched
    # sys.path again (encode/httpcore discussion #1102): about a tenth of the connector's CPU per call.
    async def ask() -> None:
        for _ in range(3):
            assert sync.current_async_library() == "asyncio"

    asyncio.run(ask())  # the first answer may import
    spy = _Spy()
    sys.meta_path.insert(0, spy)
    try:
        asyncio.run(ask())
    finally:
        sys.meta_path.remove(spy)
    assert spy.searched == []
