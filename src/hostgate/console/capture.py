"""The member side of the console's capture (issue #22): live captures held in this member's memory.

Decisions (see docs/architecture.md, "Console: capture"):

- A capture runs on the member that serves the console, in its event loop, through the one capture engine
  (:class:`~hostgate.capture.engine.CaptureRecorder`), the one the terminal UI drives.
- The member dials only the hosts of its ``[capture] hosts`` allowlist: the request names one of them by its
  text, and anything else is refused before a socket is opened (HG-3382): a console user can never make the
  member connect anywhere else (server-side request forgery). An empty list turns capture off (HG-3381).
- At most one capture per console login (keyed by a hash of the login's cookie, so the map holds no usable
  token) and ``[capture] max_sessions`` per member. A capture is closed after ``[capture] idle_timeout``
  seconds without a request (a reaper task; a request that comes later finds none, HG-3385), at logout, and at
  the member's stop (:meth:`Captures.close`): no host socket or task outlives them.
- Requests of one capture are serialised by its lock: a host session is one terminal, and two keys pressed at
  once from two tabs must not interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hostgate.capture.engine import CaptureRecorder
from hostgate.capture.faces import CaptureState, parse_host
from hostgate.capture.writer import Resumed, entity_notes
from hostgate.config.settings import CaptureSettings
from hostgate.errors import (
    CaptureAlreadyOpen,
    CaptureFieldInvalid,
    CaptureHostNotAllowed,
    CaptureNotOpen,
    CaptureOff,
    CaptureResumeRefused,
    CaptureSessionsFull,
    ModelError,
)
from hostgate.models import HostSpec, HostType, Terminal, load_model

__all__ = ["Capture", "Captures", "login_key"]

ENABLE_HINT = '[capture] hosts = ["ADDRESS:PORT", ...] in this member\'s hostgate.toml'


def login_key(cookie: str) -> str:
    """The capture map's key for a console login: a hash of its cookie (the map holds no usable token)."""
    return hashlib.sha256(cookie.encode()).hexdigest()


@dataclass(eq=False)
class Capture:
    """One live capture: its recorder, what the user marked on a screen not yet captured, and its lock."""

    user: str
    host: str  # as listed in [capture] hosts
    spec: HostSpec
    model: str
    recorder: CaptureRecorder
    started: float
    last_used: float
    state: CaptureState = field(default_factory=CaptureState)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False


class Captures:
    """This member's live captures (module doc). ``clock``: monotonic seconds (tests drive idle closes);
    ``on_end(capture, why)``: called once per ended capture (the audit entry)."""

    def __init__(
        self,
        settings: CaptureSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_end: Callable[[Capture, str], None] = lambda capture, why: None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._on_end = on_end
        self._by_login: dict[str, Capture] = {}
        self._starting = 0  # captures being started (counted against max_sessions while they connect)
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def enabled(self) -> bool:
        return bool(self.settings.hosts)

    @property
    def hosts(self) -> tuple[str, ...]:
        return self.settings.hosts

    def __len__(self) -> int:
        return len(self._by_login)

    def require_enabled(self) -> None:
        if not self.enabled:
            raise CaptureOff(f"capture from the console is off on this member: set {ENABLE_HINT}")

    def allowed(self, host: str) -> tuple[str, int]:
        """The address and port of ``host`` when it is one of the allowlist's entries (compared as listed,
        never resolved or normalised first), else HG-3382."""
        self.require_enabled()
        if host not in self.settings.hosts:
            raise CaptureHostNotAllowed(
                f"host {host[:80]!r} is not one this member may dial for a capture ([capture] hosts)"
            )
        return parse_host(host)

    def now(self) -> float:
        return self._clock()

    def find(self, login: str) -> Capture | None:
        capture = self._by_login.get(login)
        if capture is not None and self._idle(capture):
            return None  # the reaper closes it; it is gone for this request already
        return capture

    def get(self, login: str) -> Capture:
        self.require_enabled()
        capture = self.find(login)
        if capture is None:
            raise CaptureNotOpen("no capture of this login is open on this member")
        capture.last_used = self._clock()
        return capture

    def _idle(self, capture: Capture) -> bool:
        return self._clock() - capture.last_used >= self.settings.idle_timeout

    async def start(
        self,
        login: str,
        *,
        user: str,
        host: str,
        kind: HostType,
        terminal: Terminal,
        model: str,
        resume_text: str = "",
        connect_timeout: float = 10.0,
    ) -> Capture:
        """Open a capture (refusals first: nothing is dialled when one applies). ``resume_text``: a model
        file's text to add to (validated whole; refused as ``model check`` refuses it)."""
        address, port = self.allowed(host)
        if self.find(login) is not None:
            raise CaptureAlreadyOpen("this login already has a capture open on this member: end it first")
        if len(self._by_login) + self._starting >= self.settings.max_sessions:
            raise CaptureSessionsFull(
                f"this member holds {self.settings.max_sessions} captures already ([capture] max_sessions)"
            )
        resumed = None
        if resume_text.strip():
            try:
                loaded = load_model(resume_text)
            except ModelError as exc:  # refused as `model check` refuses it, named as the form's field
                raise CaptureFieldInvalid(f"field 'resume': {exc.message}", field="resume") from None
            resumed = Resumed(loaded, entity_notes(resume_text, [e.name for e in loaded.entities]), "upload")
        spec = HostSpec(
            type=kind,
            address=address,
            port=port,
            terminal=terminal,
            encoding="utf8" if kind is HostType.VT else "cp037",
            connect_timeout=connect_timeout,
        )
        try:
            recorder = CaptureRecorder(spec, name=model, resume=resumed)
        except CaptureResumeRefused as exc:  # another host type or screen size: nothing dialled yet
            raise CaptureFieldInvalid(f"field 'resume': {exc.message}", field="resume") from None
        self._starting += 1
        try:
            try:
                await recorder.start()
            except BaseException:
                await recorder.close()
                raise
        finally:
            self._starting -= 1
        if self._closed:  # the member stopped while the host answered
            await recorder.close()
            raise CaptureNotOpen("the member is stopping")
        now = self._clock()
        capture = Capture(user, host, spec, model, recorder, now, now)
        old = self._by_login.pop(login, None)  # an idle one the reaper has not closed yet
        if old is not None:
            await self._close(old, "idle")
        self._by_login[login] = capture
        self._ensure_reaper()
        return capture

    async def end(self, login: str, why: str = "ended") -> Capture | None:
        capture = self._by_login.pop(login, None)
        if capture is not None:
            await self._close(capture, why)
        return capture

    async def _close(self, capture: Capture, why: str) -> None:
        if capture.closed:
            return
        capture.closed = True
        try:
            await capture.recorder.close()
        finally:
            self._on_end(capture, why)

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap(), name="console-capture-reaper")

    async def _reap(self) -> None:
        # Check at a quarter of the timeout (at most every 5 s): a capture ends at most that late.
        every = min(5.0, max(0.05, self.settings.idle_timeout / 4))
        while self._by_login:
            await asyncio.sleep(every)
            for login, capture in list(self._by_login.items()):
                if self._idle(capture) and not capture.lock.locked():
                    self._by_login.pop(login, None)
                    with contextlib.suppress(Exception):  # a host that fails its goodbye is closed anyway
                        await self._close(capture, "idle")

    async def close(self) -> None:
        """The member stops: every capture ends, and the reaper with them."""
        self._closed = True
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
        for login in list(self._by_login):
            with contextlib.suppress(Exception):
                await self.end(login, "member stopped")
