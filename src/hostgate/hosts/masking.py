"""A screen's rows with every cell of a hidden (non-display) field masked: what leaves a server when a screen is
shown to a person (the console's Sessions page, session/screens.py; its Capture page, console/capture_page.py).

The drivers already blank a non-display field in every snapshot (hosts/base.py's contract), but tnz's
``scrstr()`` shows what was typed into a password field, so a view never relies on the driver alone: the field's
cells are overwritten here as well, whatever the driver returned.
"""

from __future__ import annotations

from hostgate.hosts.base import Screen

__all__ = ["MASK_CHAR", "masked_lines"]

MASK_CHAR = "*"


def masked_lines(screen: Screen) -> tuple[str, ...]:
    """``screen.lines`` with every cell of a hidden field replaced by ``MASK_CHAR`` (a field may wrap onto the
    next rows: 3270 buffer addresses run on from one row's end to the next row's start, and past the last cell
    back to the first)."""
    cells = [list(line.ljust(screen.cols)[: screen.cols]) for line in screen.lines]
    size = screen.rows * screen.cols
    if size <= 0:
        return screen.lines
    for f in screen.fields:
        if not f.hidden:
            continue
        start = (f.row - 1) * screen.cols + f.col - 1
        for offset in range(min(f.length, size)):
            at = (start + offset) % size
            row, col = divmod(at, screen.cols)
            if row < len(cells):
                cells[row][col] = MASK_CHAR
    return tuple("".join(row) for row in cells)
