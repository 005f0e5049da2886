"""Hidden fields on a session's screen (the console's screen view, session/screens.py): masked whatever the
driver returned, in every row a field covers (3270 fields run on into the next row, and past the last cell back
to the first)."""

from __future__ import annotations

from hostgate.hosts import Field, Screen
from hostgate.session.screens import MASK_CHAR, masked_lines


def _screen(lines: list[str], fields: tuple[Field, ...], rows: int = 3, cols: int = 10) -> Screen:
    return Screen(rows, cols, tuple(line.ljust(cols) for line in lines), (1, 1), fields)


def test_a_hidden_fields_content_is_masked_even_when_the_driver_left_it() -> None:
    screen = _screen(
        ["USER: ADA ", "PASS: PWD9", ""],
        (
            Field(1, 7, 3, protected=False, text="ADA"),
            Field(2, 7, 4, protected=False, hidden=True, text="PWD9"),
        ),
    )
    assert masked_lines(screen) == ("USER: ADA ", "PASS: ****", " " * 10)


def test_a_hidden_field_that_wraps_is_masked_on_both_rows_and_around_the_end() -> None:
    wraps = Field(1, 8, 6, protected=False, hidden=True)  # row 1 cols 8-10, row 2 cols 1-3
    around = Field(3, 9, 4, protected=False, hidden=True)  # row 3 cols 9-10, then row 1 cols 1-2
    screen = _screen(["abcdefghij", "klmnopqrst", "uvwxyz0123"], (wraps, around))
    assert masked_lines(screen) == (
        MASK_CHAR * 2 + "cdefg" + MASK_CHAR * 3,
        MASK_CHAR * 3 + "nopqrst",
        "uvwxyz01" + MASK_CHAR * 2,
    )


def test_displayed_fields_and_screens_without_fields_are_left_as_they_are() -> None:
    screen = _screen(["abc", "def", "ghi"], (Field(1, 1, 3, protected=True, text="abc"),))
    assert masked_lines(screen) == screen.lines
    assert masked_lines(_screen(["vt text"], (), rows=1)) == ("vt text   ",)
