"""Text a terminal cannot carry (issue #19: schemathesis over the web services found it): a character outside
the 3270 terminal's code page is refused as InvalidValue (HG-6107, 400), not a bare UnicodeEncodeError that
the session server answered as an internal error (500)."""

from __future__ import annotations

import pytest

from hostgate.errors import InvalidValue
from hostgate.hosts import open_session
from hostgate.models import load_model
from hostgate.session.model_session import ModelSession
from tests.helpers.hosts import HostProcess
from tests.helpers.models import model_text


@pytest.mark.parametrize("text", ["\U0010cc0b", "snow \u2603", "\u4e2d"])
async def test_a_character_outside_the_code_page_is_an_invalid_value(
    host_3270: HostProcess, text: str
) -> None:
    model = load_model(model_text("demo3270", host_3270.port))
    driver = open_session(model.host)
    runtime = ModelSession(model, driver, {"userid": "ADA", "password": "LOVELACE"})
    assert (await runtime.open()).name == "Menu"
    try:
        assert (await runtime.perform_entity_operation("open_form")).name == "CustomerForm"
        with pytest.raises(InvalidValue, match="code page"):
            await runtime.set_attributes({"name": text})
        # The session is still usable: a value the code page has is typed as before.
        await runtime.set_attributes({"name": "HOPPER"})
    finally:
        await runtime.close()
