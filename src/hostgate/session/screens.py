"""A session's current screen for an Administrator (the console's Sessions page, issue #20), hidden fields masked.

The drivers already blank a non-display field in every snapshot (hosts/base.py's contract: tnz's ``scrstr()``
shows what was typed into a password field, so the 3270 driver masks by field attribute). This module does not
rely on that alone: every cell of a hidden field is overwritten with ``*`` here too, in the rows and in the
field's text, so what leaves the server is a masked run as long as the field whatever the driver returned. The
length is the screen's layout (the field is that long whatever is typed), not the content's.
"""

from __future__ import annotations

from hostgate.hosts import Screen
from hostgate.hosts.masking import MASK_CHAR, masked_lines
from hostgate.messages import ScreenField, ScreenView
from hostgate.session.registry import ServedSession

__all__ = ["MASK_CHAR", "masked_lines", "screen_view"]


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
