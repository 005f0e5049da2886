"""Capturing the demo host application from scratch, as a user of ``hostgate model capture`` would, but
programmatically: sign on, the menu, the customer form (an operation with parameters that stays on the form),
the paged customer list, back, sign off. The names chosen are those of samples/models/demo*.yaml, so the
samples' ``tables:`` section fits the captured model unchanged.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from hostgate.capture import ValueChoice, ValueKind
from hostgate.capture.engine import CaptureRecorder
from hostgate.models import HostSpec, Key

__all__ = ["CAPTURED_AT", "capture_demo", "fixed_clock"]

CAPTURED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def fixed_clock() -> datetime:
    return CAPTURED_AT


async def capture_demo(spec: HostSpec, *, name: str = "captured") -> CaptureRecorder:
    """A recorder that has captured the whole demo application (still connected: close it)."""
    r = CaptureRecorder(spec, name=name, keyboard_timeout=5.0, answer_timeout=20.0, clock=fixed_clock)
    await r.start()
    try:
        await _capture(r)
    except BaseException:
        await r.close()
        raise
    return r


async def _capture(r: CaptureRecorder) -> None:
    r.add_entity(r.propose_entity("SignOn"))

    await r.type_text("ADA")
    await r.press(Key.TAB)
    await r.type_text("LOVE")
    await r.type_text("LACE")  # typed in two goes: still one (secret) value
    await r.press(Key.ENTER)
    signon = r.propose_operation("signon", "Menu")
    assert signon.choices[1].kind is ValueKind.HIDDEN_VARIABLE, signon.choices
    signon = dataclasses.replace(
        signon, choices=(ValueChoice(ValueKind.VARIABLE, "userid"), signon.choices[1])
    )
    r.add_entity(r.propose_entity("Menu"), signon)

    await r.type_text("1")
    await r.press(Key.ENTER)
    open_form = r.propose_operation("open_form", "CustomerForm")
    form = r.propose_entity("CustomerForm")
    r.add_entity(form, open_form)
    r.add_attribute("CustomerForm", r.propose_attribute("result", 9, 18, 60))

    await r.type_text("41")
    await r.press(Key.TAB)
    await r.type_text("GRACE")
    await r.press(Key.TAB)
    await r.type_text("ARLINGTON")
    await r.press(Key.ENTER)
    save = r.propose_operation("save", "CustomerForm")
    params = tuple(ValueChoice(ValueKind.PARAMETER, n) for n in ("number", "name", "city"))
    r.add_operation(dataclasses.replace(save, choices=params))

    await r.press(Key.PF3)
    r.add_operation(r.propose_operation("back", "Menu"))

    await r.type_text("2")
    await r.press(Key.ENTER)
    r.add_entity(r.propose_entity("CustomerList"), r.propose_operation("open_list", "CustomerList"))
    customers = r.propose_recordset("customers", 6, 22)
    columns = tuple(dataclasses.replace(c, name="number") if c.name == "no" else c for c in customers.columns)
    r.add_recordset("CustomerList", dataclasses.replace(customers, columns=columns))
    await r.press(Key.PF8)  # pages the recordset: not an input of the next operation
    await r.press(Key.PF7)
    assert r.pending == (), r.pending

    await r.press(Key.PF3)
    r.add_operation(r.propose_operation("back", "Menu"))

    await r.press(Key.PF12)
    r.add_operation(r.propose_operation("signoff", "SignOn"))
