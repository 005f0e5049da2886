"""A session's current screen for an Administrator (the console's Sessions page, issue #20), hidden fields masked.

The drivers already blank a non-display field in every snapshot (hosts/base.py's contract: tnz's ``scrstr()``
shows what was typed into a password field, so the 3270 driver masks by field attribute). This module does not
rely on that alone: every cell of a hidden field is overwritten with ``*`` here too, in the rows and in the
field's text, so what leaves the server is a masked run as long as the field whatever the driver returned. The
length is the screen's layout (the field is that long whatever is typed), not the content's.
"""

from __future__ import annotations

from hostgate.hosts import Screen
from hostgate.messages import ScreenField, ScreenView
from hostgate.session.registry import ServedSession

__all__ = ["MASK_CHAR", "masked_lines", "screen_view"]

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


def screen_view(server: str, session: ServedSession, screen: Screen) -> ScreenView:
    entity = session.runtime.entity
    fields = tuple(
        ScreenField(
            f.row,
            f.col,
            f.length,
            f.protected,
            f.hidden,
            f.numeric,
            f.intensified,
            MASK_CHAR * f.length if f.hidden else f.text,
        )
        for f in screen.fields
    )
    return ScreenView(
        server,
        session.id,
        session.user,
        session.model,
        entity.name if entity else None,
        screen.rows,
        screen.cols,
        masked_lines(screen),
        screen.cursor,
        screen.keyboard_locked,
        fields,
    )
