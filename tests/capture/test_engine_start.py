"""CaptureRecorder.start(): a host that connects but then fails before its first screen is disconnected.

start() failing leaves the caller no recorder it would think to close, so a connection left open there outlives
the capture (found by the suite's leak check: the TUI and the console both start a recorder before they hold it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hostgate.capture.engine import CaptureRecorder
from hostgate.errors import HostDisconnected
from hostgate.hosts import Screen
from hostgate.hosts.base import Condition, HostSession, Input
from hostgate.models import HostSpec, HostType, Key, Terminal

SPEC = HostSpec(HostType.TN3270, "127.0.0.1", 3270, Terminal("IBM-3278-2", 24, 80))


class _ClosesBeforeItsFirstScreen(HostSession):
    """A session whose connection opens and whose host then drops it: the first wait for a screen fails."""

    def __init__(self, failure: BaseException) -> None:
        super().__init__(SPEC)
        self.failure = failure
        self.open = False

    @property
    def connected(self) -> bool:
        return self.open

    async def connect(self) -> Screen:
        self.open = True
        return Screen(24, 80, (" " * 80,) * 24, (1, 1))

    async def wait_ready(self, timeout: float) -> Screen:
        raise self.failure

    async def snapshot(self) -> Screen:
        raise self.failure

    async def disconnect(self) -> None:
        self.open = False

    async def type_text(self, text: str) -> None:
        raise AssertionError("not reached")

    async def fill_field(self, row: int, col: int, text: str) -> None:
        raise AssertionError("not reached")

    async def send_key(self, key: Key) -> None:
        raise AssertionError("not reached")

    async def wait_until(self, condition: Condition, timeout: float) -> Screen:
        raise AssertionError("not reached")

    async def perform(self, inputs: Sequence[Input], condition: Condition, timeout: float) -> Screen:
        raise AssertionError("not reached")


@pytest.mark.parametrize(
    "failure",
    [HostDisconnected("the host closed the connection"), asyncio.CancelledError()],
    ids=["closed", "cancel"],
)
async def test_a_start_that_fails_after_connecting_disconnects_the_host(failure: BaseException) -> None:
    session = _ClosesBeforeItsFirstScreen(failure)
    recorder = CaptureRecorder(SPEC, session=session)
    with pytest.raises(type(failure)):
        await recorder.start()
    assert not session.open, "the host connection outlived a failed start()"
