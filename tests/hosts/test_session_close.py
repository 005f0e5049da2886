"""Closing a thread-backed session (hosts/_worker.py) releases its host connection and its private event loop
even when whoever closes it is cancelled meanwhile.

A close that a cancellation abandons (a server stopping, a test's event loop shutting down while a pool still
signs a session off in the background) must not leave the tnz loop, its self-pipe and the host connection to
the garbage collector: CI saw exactly those as ResourceWarnings ("unclosed event loop", "unclosed socket") at
the setup of a later test on the same worker (tests/session/test_pool_sync.py, fresh-clone run 4).
"""

from __future__ import annotations

import asyncio
import threading
import time

from hostgate.hosts import open_session
from hostgate.hosts.tn3270 import Tn3270Session
from tests.helpers.hosts import HostProcess, sample_spec

WITHIN = 30.0  # a loaded 2-core machine


async def test_a_close_cancelled_while_the_session_thread_is_busy_still_closes_the_loop_and_connection(
    host_3270: HostProcess,
) -> None:
    session = open_session(sample_spec("demo3270", host_3270.port))
    assert isinstance(session, Tn3270Session)
    await session.connect()
    thread = session._thread
    assert thread is not None and thread.loop is not None
    loop = thread.loop
    sock = session._socket()
    assert sock is not None
    # Keep the session thread busy (as a sign-off still running there would), so the close's final job waits
    # in the thread's queue when the closer is cancelled.
    busy, release = threading.Event(), threading.Event()

    def occupy() -> None:
        busy.set()
        release.wait(WITHIN)

    occupied = asyncio.ensure_future(thread.run(occupy))
    try:
        deadline = time.monotonic() + WITHIN
        while not busy.is_set():
            assert time.monotonic() < deadline, "the session thread never ran the blocking call"
            await asyncio.sleep(0.01)  # poll interval
        closing = asyncio.ensure_future(session.disconnect())
        while not thread.closed:  # the close has submitted its job and awaits it
            assert time.monotonic() < deadline, "the close never started"
            await asyncio.sleep(0.01)  # poll interval
        closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
    finally:
        release.set()
        await occupied
    deadline = time.monotonic() + WITHIN
    while not (loop.is_closed() and sock.fileno() == -1):
        assert time.monotonic() < deadline, (
            f"a cancelled close left the session's loop {'closed' if loop.is_closed() else 'open'} and its "
            f"host connection {'closed' if sock.fileno() == -1 else 'open'}"
        )
        await asyncio.sleep(0.01)  # poll interval
    assert not session.connected
