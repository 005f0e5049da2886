"""A mock 3270/5250 host application for hostgate's driver tests, served by mainframe-mocker.

Runs under the test-host venv (.venv-hosts, Python >= 3.12), never imported by hostgate's own tests:

    .venv-hosts/bin/python src/hostgate/testhosts/mfhost.py --protocol 3270 --host 127.0.0.1 --port 0

Screens: SIGNON (user ADA, password LOVELACE, the password field hidden), MENU (1 form, 2 list, 3 slow,
4 lock, 5 drop), FORM (numeric customer number, name, city), LIST (40 customers, 17 per page, PF7/PF8),
SLOW (answers Enter after --slow-seconds), LOCK (shown with the keyboard left locked), DROP (Enter
closes the connection without a goodbye). The clock is fixed so screens are the same on every run.

``--variant list-title`` shows the customer list titled CLIENT LIST: the host application "changed", which
``hostgate model capture --replay`` must detect (tests/capture/).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from mfmock import (
    Application,
    Exit,
    Goto,
    ListScreen,
    MenuScreen,
    MessageCatalog,
    Restart,
    Screen,
    ScreenError,
    StandardFrame,
    Stay,
    msg,
    run,
)
from mfmock.core.ui.conversation import Conversation

USERS = {"ADA": "LOVELACE"}
CUSTOMERS = [(i, f"CUSTOMER {i:02d}", f"CITY{i % 5}") for i in range(1, 41)]
CATALOG = MessageCatalog(
    prefix="HGT",
    messages={
        "SIGNED_ON": ("HGT0100I", "WELCOME {user}"),
        "BAD_SIGNON": ("HGT0101E", "USER ID OR PASSWORD IS INCORRECT"),
        "SAVED": ("HGT0102I", "CUSTOMER {custno} SAVED"),
        "SLOW_DONE": ("HGT0103I", "SLOW REPLY DONE"),
    },
)


def _lock_keyboard(record: bytes, protocol: str) -> bytes:
    """The same screen with the keyboard-restore/unlock bit cleared (a host that stays busy)."""
    data = bytearray(record)
    if protocol == "tn3270":
        from mfmock.tn3270.datastream import CODE_TABLE, WCC_KEYBOARD_RESTORE, six_bit

        data[1] = six_bit(CODE_TABLE.index(data[1]) & ~WCC_KEYBOARD_RESTORE)
    else:
        from mfmock.tn5250.datastream import CC2_UNLOCK

        at = data.index(b"\x04\x11") + 3  # ESC, Write To Display, CC1, CC2
        data[at] &= ~CC2_UNLOCK
    return bytes(data)


class HostConversation(Conversation):
    async def apply(self, result: Any) -> None:
        if getattr(self.state, "drop", False):
            raise ConnectionResetError("DROP screen: closing without a goodbye")
        delay = getattr(self.screen, "reply_delay", 0.0)
        if delay:
            await asyncio.sleep(delay * self.app.slow_seconds)
        await super().apply(result)

    async def show(self, message: Any = "", cursor: Any = None) -> None:
        if not getattr(self.screen, "locks_keyboard", False):
            await super().show(message, cursor)
            return
        real_send = self.device.send
        protocol = "tn3270" if "3270" in type(self.device.renderer).__name__ else "tn5250"

        async def send_locked(record: bytes) -> None:
            await real_send(_lock_keyboard(record, protocol))

        self.device.send = send_locked  # type: ignore[method-assign]
        try:
            await super().show(message, cursor)
        finally:
            del self.device.send


class HostApp(Application):
    def __init__(self, slow_seconds: float = 2.0) -> None:
        super().__init__(
            "HGTEST",
            start="SIGNON",
            home="MENU",
            catalog=CATALOG,
            frame=StandardFrame(sysid="HGTEST"),
            signoff_trans={"SIGNOFF"},
            default_access="user",
            pf_legend="PF3=Exit",
        )
        self.slow_seconds = slow_seconds

    def create_state(self, conversation: Conversation) -> Any:
        return SimpleNamespace(user="", drop=False)

    def authorize(self, state: Any, requirement: Any) -> bool:
        return bool(state.user)

    def user_label(self, conversation: Conversation) -> str:
        return conversation.state.user

    def clock(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4)

    async def handle(self, session: Any) -> None:
        await HostConversation(self, session).run()


class SignOn(Screen):
    name = "SIGNON"
    title = "SIGN ON"
    access = None
    show_tran = False
    default_cursor = "user"
    pf_legend = "ENTER=Sign on  PF3=Exit"
    template_source = """\
{{ row(6) }}{{ center('H O S T G A T E   T E S T   H O S T') }}
{{ row(10) }}{{ prompt(col=20) }}USER ID . . : {{ input('user', 8, col=34, upper=True, label='USER ID') }}
{{ row(12) }}{{ prompt(col=20) }}PASSWORD  . : {{ input('password', 8, col=34, hidden=True, upper=True, label='PASSWORD') }}
"""

    def enter(self) -> Any:
        user, password = self.v("user"), self.values.pop("password", "")
        if USERS.get(user) != password.upper():
            raise ScreenError("BAD_SIGNON", cursor="password")
        self.state.user = user
        return Goto("MENU", message=msg("SIGNED_ON", user=user), replace=True)

    def pf(self, n: int) -> Any:
        return Exit() if n == 3 else None


class Menu(MenuScreen):
    name = tran = "MENU"
    title = "MAIN MENU"
    options = [  # noqa: RUF012 - mfmock's declared class attribute
        ("1", "Customer form", "FORM"),
        ("2", "Customer list", "LIST"),
        ("3", "Slow screen", "SLOW"),
        ("4", "Locked screen", "LOCK"),
        ("5", "Dropping screen", "DROP"),
    ]

    def pf(self, n: int) -> Any:
        if n == 12:
            return Restart()
        return Exit() if n == 3 else None


class Form(Screen):
    name = tran = "FORM"
    title = "CUSTOMER FORM"
    default_cursor = "custno"
    template_source = """\
{{ row(5) }}{{ prompt(col=2) }}CUSTOMER NO . : {{ input('custno', 6, col=18, numeric=True, label='CUSTOMER NO') }}
{{ row(6) }}{{ prompt(col=2) }}NAME  . . . . : {{ input('name', 20, col=18, upper=True, label='NAME') }}
{{ row(7) }}{{ prompt(col=2) }}CITY  . . . . : {{ input('city', 15, col=18, upper=True, label='CITY') }}
{{ row(9) }}{{ prompt(col=2) }}RESULT  . . . : {{ output('result', 60, col=18) }}
"""

    def enter(self) -> Any:
        if not self.v("custno").strip():
            raise ScreenError("REQUIRED", cursor="custno", field="CUSTOMER NO")
        self.values["result"] = f"SAVED {self.v('custno').strip()} {self.v('name')} OF {self.v('city')}"
        return Stay(msg("SAVED", custno=self.v("custno").strip()))


class Customers(ListScreen):
    name = tran = "LIST"
    title = "CUSTOMER LIST"
    heading = "NO.   NAME          CITY"
    list_top = 6
    pf_legend = "PF3=Back  PF7=Up  PF8=Down"
    template_source = """\
{%- from "mfmock/widgets.j2" import list_rows with context -%}
{{ row(3) }}{{ output('pageinfo', 16, col=60) }}
{{ list_rows() }}
"""

    def setup(self) -> None:
        super().setup()
        self.listing = True

    def fetch(self, offset: int, limit: int) -> tuple[list[tuple[object, str]], int]:
        rows = [(n, f"{n:04d}  {name:<12}  {city}") for n, name, city in CUSTOMERS]
        return rows[offset : offset + limit], len(rows)

    def refresh(self) -> None:
        super().refresh()
        n = self.page_rows(self.L.rows)
        self.values["pageinfo"] = f"PAGE {self.page + 1} OF {(self.total + n - 1) // n}"


class Slow(Screen):
    name = tran = "SLOW"
    title = "SLOW SCREEN"
    reply_delay = 1.0
    template_source = """\
{{ row(5) }}{{ text(col=2) }}PRESS ENTER: THE HOST ANSWERS SLOWLY
"""

    def enter(self) -> Any:
        return Stay(msg("SLOW_DONE"))


class Lock(Screen):
    name = tran = "LOCK"
    title = "LOCKED SCREEN"
    locks_keyboard = True
    template_source = """\
{{ row(5) }}{{ text(col=2) }}THE KEYBOARD STAYS LOCKED
"""


class Drop(Screen):
    name = tran = "DROP"
    title = "DROPPING SCREEN"
    template_source = """\
{{ row(5) }}{{ text(col=2) }}PRESS ENTER: THE HOST DROPS THE CONNECTION
"""

    def enter(self) -> Any:
        self.state.drop = True
        return Stay()


class RenamedCustomers(Customers):
    title = "CLIENT LIST"


VARIANTS: dict[str, dict[type[Screen], type[Screen]]] = {"": {}, "list-title": {Customers: RenamedCustomers}}


def create_app(slow_seconds: float = 2.0, variant: str = "") -> HostApp:
    app = HostApp(slow_seconds)
    changed = VARIANTS[variant]
    for cls in (SignOn, Menu, Form, Customers, Slow, Lock, Drop):
        app.screen(changed.get(cls, cls))
    return app


def _add_arguments(parser: Any, env: Any) -> None:
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="")


if __name__ == "__main__":
    run(
        lambda args: create_app(args.slow_seconds, args.variant),
        protocols=("tn3270", "tn5250"),
        add_arguments=_add_arguments,
    )
