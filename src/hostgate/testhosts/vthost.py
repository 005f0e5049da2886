"""A curses host application for hostgate's VT driver tests, run under a pty by telnetlib3-server:

    telnetlib3-server 127.0.0.1 PORT --pty-exec PYTHON -- src/hostgate/testhosts/vthost.py

It mirrors the 3270/5250 mock host (src/hostgate/testhosts/mfhost.py) so one model shape fits all three: SIGNON
(user ADA, password LOVELACE, not echoed), MENU (1 form, 2 list; F12 signs off), FORM, LIST (40 customers, 17 per page,
F7/F8). Tab moves between fields, Enter submits, F3 goes back (exits from the menu). A line of curses
line-drawing characters (ACS_HLINE) under the title exercises DEC special graphics.

``--variant list-title`` titles the customer list CLIENT LIST: the application "changed", which
``hostgate model capture --replay`` must detect (tests/capture/).
"""

from __future__ import annotations

import curses
import locale
import os
import sys
from dataclasses import dataclass, field

USERS = {"ADA": "LOVELACE"}
CUSTOMERS = [(i, f"CUSTOMER {i:02d}", f"CITY{i % 5}") for i in range(1, 41)]
PAGE = 17
LIST_TITLE = "CLIENT LIST" if sys.argv[1:] == ["--variant", "list-title"] else "CUSTOMER LIST"


@dataclass
class Input:
    name: str
    row: int
    col: int
    length: int
    hidden: bool = False
    value: str = ""


@dataclass
class Form:
    title: str
    labels: list[tuple[int, int, str]]
    inputs: list[Input]
    legend: str
    message: str = ""
    extra: list[tuple[int, int, str]] = field(default_factory=list)


def frame(win: curses.window, form: Form) -> None:
    win.erase()
    win.addstr(0, 1, "HGTEST")
    win.addstr(0, (80 - len(form.title)) // 2, form.title)
    win.hline(1, 0, curses.ACS_HLINE, 80)
    for row, col, text in form.labels + form.extra:
        win.addstr(row - 1, col - 1, text)
    for inp in form.inputs:
        shown = "" if inp.hidden else inp.value
        win.addstr(inp.row - 1, inp.col - 1, shown.ljust(inp.length))
    win.addstr(22, 1, form.message[:78])
    win.addstr(23, 1, form.legend)


def run_form(win: curses.window, form: Form) -> int:
    """Edit the inputs until an attention key; returns the key (curses code)."""
    current = 0
    while True:
        frame(win, form)
        if form.inputs:
            inp = form.inputs[current]
            win.move(inp.row - 1, inp.col - 1 + min(len(inp.value), inp.length - 1))
        else:
            win.move(23, 0)
        win.refresh()
        key = win.getch()
        if key == -1:
            # ERR from a blocking getch: the terminal is gone (the pty's other side closed: the telnet server
            # died or dropped the connection). Waiting for the next key would spin at full CPU forever as an
            # orphan (found at the #17 merge: six such processes held 1.5 cores of a CI machine).
            raise SystemExit(0)
        if key in (10, 13, curses.KEY_ENTER) or key >= curses.KEY_F0:
            return key
        if not form.inputs:
            continue
        inp = form.inputs[current]
        if key == 9:
            current = (current + 1) % len(form.inputs)
        elif key == curses.KEY_BTAB:
            current = (current - 1) % len(form.inputs)
        elif key in (8, 127, curses.KEY_BACKSPACE):
            inp.value = inp.value[:-1]
        elif 32 <= key < 127 and len(inp.value) < inp.length:
            inp.value += chr(key).upper()


def signon(win: curses.window) -> bool:
    form = Form(
        "SIGN ON",
        [
            (6, 23, "H O S T G A T E   T E S T   H O S T"),
            (10, 20, "USER ID . . :"),
            (12, 20, "PASSWORD  . :"),
        ],
        [Input("user", 10, 34, 8), Input("password", 12, 34, 8, hidden=True)],
        "ENTER=Sign on  F3=Exit",
    )
    while True:
        key = run_form(win, form)
        if key == curses.KEY_F3:
            return False
        user, password = form.inputs[0].value, form.inputs[1].value
        if USERS.get(user) == password:
            return True
        form.inputs[1].value = ""
        form.message = "HGT0101E USER ID OR PASSWORD IS INCORRECT"


def customer_form(win: curses.window) -> None:
    form = Form(
        "CUSTOMER FORM",
        [
            (5, 2, "CUSTOMER NO . :"),
            (6, 2, "NAME  . . . . :"),
            (7, 2, "CITY  . . . . :"),
            (9, 2, "RESULT  . . . :"),
        ],
        [Input("custno", 5, 18, 6), Input("name", 6, 18, 20), Input("city", 7, 18, 15)],
        "F3=Back",
    )
    while run_form(win, form) != curses.KEY_F3:
        custno, name, city = (i.value for i in form.inputs)
        if not custno:
            form.message = "HGT0017E CUSTOMER NO IS REQUIRED"
            continue
        form.extra = [(9, 18, f"SAVED {custno} {name} OF {city}")]
        form.message = f"HGT0102I CUSTOMER {custno} SAVED"


def customer_list(win: curses.window) -> None:
    page, pages = 0, (len(CUSTOMERS) + PAGE - 1) // PAGE
    message = ""
    while True:
        rows = CUSTOMERS[page * PAGE : (page + 1) * PAGE]
        extra = [(3, 60, f"PAGE {page + 1} OF {pages}"), (4, 2, "NO.   NAME          CITY"), (5, 2, "-" * 24)]
        extra += [(6 + i, 2, f"{n:04d}  {name:<12}  {city}") for i, (n, name, city) in enumerate(rows)]
        form = Form(LIST_TITLE, [], [], "F3=Back  F7=Up  F8=Down", message, extra)
        key = run_form(win, form)
        if key == curses.KEY_F3:
            return
        if key == curses.KEY_F8:
            message = "HGT0020W BOTTOM OF LIST" if page + 1 >= pages else ""
            page = min(page + 1, pages - 1)
        elif key == curses.KEY_F7:
            message = "HGT0019W TOP OF LIST" if page == 0 else ""
            page = max(page - 1, 0)


def menu(win: curses.window) -> bool:
    """The main menu; True when the user signs off (F12), False when they exit (F3)."""
    message = "HGT0100I WELCOME ADA"
    while True:
        form = Form(
            "MAIN MENU",
            [(5, 5, "1  Customer form"), (6, 5, "2  Customer list"), (10, 4, "SELECTION ===>")],
            [Input("option", 10, 19, 2)],
            "F3=Exit  F12=Sign off",
            message,
        )
        key = run_form(win, form)
        if key == curses.KEY_F3:
            return False
        if key == curses.KEY_F12:
            return True
        choice = form.inputs[0].value.strip()
        message = ""
        if choice == "1":
            customer_form(win)
        elif choice == "2":
            customer_list(win)
        else:
            message = f"HGT0016E INVALID OPTION {choice}"


def main(win: curses.window) -> None:
    curses.raw()
    win.keypad(True)
    while signon(win) and menu(win):
        pass


if __name__ == "__main__":
    # telnetlib3's pty server sets LANG=en_US.utf-8, which a fresh Debian does not have: fall back to C.UTF-8.
    try:
        locale.setlocale(locale.LC_ALL, "")
    except locale.Error:
        locale.setlocale(locale.LC_ALL, "C.UTF-8")
    os.environ.setdefault("ESCDELAY", "25")
    curses.wrapper(main)
