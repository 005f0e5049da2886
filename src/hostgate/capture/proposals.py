"""What the capture engine proposes from one screen: recognition rules, attributes, recordset columns.

Everything here is a pure function of :class:`~hostgate.hosts.Screen` snapshots (no host, no I/O), so the
heuristics are unit-testable and the engine only wires them to a live session. They follow what VHI's
Design Tool does when a developer marks a screen:

- **rules**: the screen's title (the text of the top rows nearest the centre, as terminal applications
  centre their titles), a second anchor from the body (the first stable label), and a regular expression
  for a labelled counter whose numbers vary ("PAGE 1 OF 3"). Texts with digits are never exact anchors:
  dates, times and counters change between visits.
- **attributes** (block mode): every unprotected field, named after the protected label before it
  ("USER ID . . :" becomes ``userid``); hidden fields are write-only.
- **recordset columns**: runs of non-blank columns aligned across the rows, named from a heading row above.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hostgate.capture import AttributeDraft, ColumnDraft, EntityDraft
from hostgate.hosts import Screen
from hostgate.models import CursorRule, Key, RegexRule, Region, Rule, TextRule, ValueType, all_match

__all__ = [
    "TextRun",
    "attribute_candidates",
    "check_rules",
    "clashes",
    "column_candidates",
    "default_paging",
    "identifier",
    "label_before",
    "page_counter_rule",
    "propose_rules",
    "text_runs",
    "unique_name",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Texts separated by two blanks or more are separate items of a screen ("1  Customer form" are two).
_RUN = re.compile(r"\S+(?: \S+)*")
_COUNTER = re.compile(r"[A-Za-z][A-Za-z .]*?\s*\d+\s*(?:OF|/)\s*\d+", re.IGNORECASE)
# Fill characters some hosts show in empty input fields (3278 underscores, 5250 dots are data, not layout).
_FILL = "_"
TITLE_ROWS = 2
FOOTER_ROWS = 2  # the message line and the key legend: both change with what the user did


@dataclass(frozen=True, slots=True)
class TextRun:
    """A text of one row (words separated by single blanks), 1-based."""

    row: int
    col: int
    text: str

    @property
    def end(self) -> int:
        return self.col + len(self.text) - 1


def _split_runs(row: int, line: str, start_col: int = 1) -> list[TextRun]:
    runs: list[TextRun] = []
    for found in _RUN.finditer(line):
        text = found.group(0)
        # A single blank inside a run is kept ("USER ID . . :"); two or more split it.
        for part in re.split(r" {2,}", text):
            if part:
                col = start_col + found.start() + text.index(part)
                runs.append(TextRun(row, col, part))
    return runs


def text_runs(screen: Screen, rows: Iterable[int], *, protected_only: bool = True) -> list[TextRun]:
    """The texts shown in ``rows``, in reading order; on block-mode screens only those outside input
    fields (what the user types there is no property of the screen)."""
    found: list[TextRun] = []
    for row in rows:
        line = screen.lines[row - 1]
        if protected_only and screen.fields:
            chars = list(line)
            for col in range(1, screen.cols + 1):
                field = screen.field_at(row, col)
                if field is not None and not field.protected:
                    chars[col - 1] = " "
            line = "".join(chars)
        found.extend(_split_runs(row, line))
    return found


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def _shown_elsewhere(run: TextRun, others: Sequence[Screen]) -> bool:
    return any(o.rows >= run.row and o.at(run.row, run.col, len(run.text)) == run.text for o in others)


def propose_rules(screen: Screen, others: Sequence[Screen] = ()) -> tuple[Rule, ...]:
    """Rules for ``screen``: its title at row/col, a body anchor at row/col, and a counter regex if one is
    shown; texts shown at the same place on ``others`` (screens of other entities) are passed over."""
    rules: list[Rule] = []
    body_rows = range(TITLE_ROWS + 1, max(TITLE_ROWS + 1, screen.rows - FOOTER_ROWS + 1))
    centre = (screen.cols + 1) / 2
    titles = [
        r
        for r in text_runs(screen, range(1, min(TITLE_ROWS, screen.rows) + 1))
        if not _has_digit(r.text) and len(r.text) >= 3 and not _shown_elsewhere(r, others)
    ]
    if titles:
        title = min(titles, key=lambda r: (r.row, abs((r.col + r.end) / 2 - centre)))
        rules.append(TextRule(title.text, row=title.row, col=title.col))
    anchors = [
        r
        for r in text_runs(screen, body_rows)
        if not _has_digit(r.text) and len(r.text) >= 3 and set(r.text) - set("-=_*.:")
    ]
    distinct = [r for r in anchors if not _shown_elsewhere(r, others)] or anchors
    if distinct:
        anchor = distinct[0]
        rules.append(TextRule(anchor.text, row=anchor.row, col=anchor.col))
    counter = page_counter_rule(screen, body_rows, end_only=False)
    if counter is not None:
        rules.append(counter)
    if not rules:
        # A screen without any stable text: fall back to the cursor, the one thing left a host sets.
        rules.append(CursorRule(*screen.cursor))
    return tuple(rules)


def page_counter_rule(screen: Screen, rows: Iterable[int], *, end_only: bool) -> RegexRule | None:
    """A regex for the first labelled counter ("PAGE 1 OF 3") in ``rows``: any page (``end_only`` False),
    or only the last one, where both numbers are equal (an end-of-data rule)."""
    for run in text_runs(screen, rows):
        found = _COUNTER.search(run.text)
        if found is None:
            continue
        text = found.group(0)
        numbers = re.findall(r"\d+", text)
        if len(numbers) != 2:
            continue
        label = re.escape(text[: text.index(numbers[0])].strip())
        between = text[text.index(numbers[0]) + len(numbers[0]) : text.rindex(numbers[1])].strip()
        sep = re.escape(between)
        second = r"\1\b" if end_only else r"\d+"
        regex = rf"{label}\s*(\d+)\s*{sep}\s*{second}" if end_only else rf"{label}\s*\d+\s*{sep}\s*{second}"
        left = run.col + found.start()
        return RegexRule(regex, region=Region(run.row, left, run.row, screen.cols))
    return None


def check_rules(rules: Sequence[Rule], entities: Iterable[EntityDraft]) -> tuple[str, ...]:
    """The names of ``entities`` whose screens ``rules`` also match."""
    return tuple(e.name for e in entities if e.screen.lines and all_match(rules, e.screen))


def clashes(draft: EntityDraft, entities: Iterable[EntityDraft], blank: Iterable[str] = ()) -> list[str]:
    """Every way ``draft`` and the ``entities`` would be confused: its rules match their screens, or theirs
    match its screen. ``blank`` names entities without a captured screen (resumed from a file): only their
    rules can be checked."""
    skip = set(blank)
    found: list[str] = []
    for other in entities:
        if other.name == draft.name:
            continue
        if other.name not in skip and all_match(draft.rules, other.screen):
            found.append(f"the rules of {draft.name} also match the screen of {other.name}")
        if other.rules and all_match(other.rules, draft.screen):
            found.append(
                f"the rules of {other.name} match this screen too (the model would see {other.name})"
            )
    return found


def identifier(label: str, fallback: str) -> str:
    """A model identifier from a screen label: "USER ID . . :" -> ``userid``, "CUSTOMER NO . :" ->
    ``customerno``; ``fallback`` when nothing of it is usable."""
    words = re.sub(r"[^A-Za-z0-9 ]", " ", label).split()
    name = "".join(words).lower()
    if not name:
        return fallback
    return name if _IDENTIFIER.fullmatch(name) else f"f_{name}"


def unique_name(name: str, taken: Iterable[str]) -> str:
    used = set(taken)
    if name not in used:
        return name
    n = 2
    while f"{name}_{n}" in used:
        n += 1
    return f"{name}_{n}"


def label_before(screen: Screen, row: int, col: int) -> str:
    """The text just left of (row, col) on its row (a field's label), or "" when there is none."""
    runs = [r for r in text_runs(screen, [row]) if r.end < col]
    # "PASSWORD  . :" is two runs: leader dots and a colon alone name nothing, so take the words before them.
    label = ""
    while runs and not any(ch.isalnum() for ch in label):
        label = f"{runs.pop().text} {label}".strip()
    return label


def attribute_candidates(screen: Screen) -> tuple[AttributeDraft, ...]:
    """Every unprotected field of a block-mode screen as a writable attribute, named from its label; hidden
    fields are write-only (``hidden=True``). A field that wraps is cut at the row's end (a model attribute
    never wraps)."""
    drafts: list[AttributeDraft] = []
    for field in screen.fields:
        if field.protected or field.length <= 0:
            continue
        name = identifier(label_before(screen, field.row, field.col), f"field_r{field.row}c{field.col}")
        name = unique_name(name, (d.name for d in drafts))
        length = min(field.length, screen.cols - field.col + 1)
        drafts.append(AttributeDraft(name, field.row, field.col, length, writable=True, hidden=field.hidden))
    return tuple(drafts)


def _blank(ch: str) -> bool:
    return ch == " " or ch == _FILL


def column_candidates(screen: Screen, top: int, bottom: int) -> tuple[ColumnDraft, ...]:
    """Columns of rows ``top``..``bottom``: runs of columns holding text on some row, split where every row
    is blank for two columns or more, each extended to one blank before the next (values are stripped when
    read); named from the heading row above (the first row above ``top`` with letters that is not a rule
    line), else ``col1``, ``col2`` ... An all-digit column is an integer."""
    lines = [screen.lines[r - 1] for r in range(top, bottom + 1)]
    used = [any(not _blank(line[c]) for line in lines) for c in range(screen.cols)]
    spans: list[list[int]] = []
    c = 0
    while c < screen.cols:
        if not used[c]:
            c += 1
            continue
        start = c
        end = c
        while c < screen.cols and (used[c] or (c + 1 < screen.cols and used[c + 1])):
            if used[c]:
                end = c
            c += 1
        spans.append([start, end])
    for i in range(len(spans) - 1):
        spans[i][1] = max(spans[i][1], spans[i + 1][0] - 2)
    heading = _heading(screen, top)
    columns: list[ColumnDraft] = []
    for n, (start, end) in enumerate(spans, start=1):
        label = next((r.text for r in heading if r.col <= end + 1 and r.end >= start + 1), "")
        name = unique_name(identifier(label, f"col{n}"), (d.name for d in columns))
        values = [line[start : end + 1].strip() for line in lines]
        filled = [v for v in values if v]
        integer = bool(filled) and all(v.isdigit() for v in filled)
        kind = ValueType.INTEGER if integer else ValueType.STRING
        columns.append(ColumnDraft(name, start + 1, end - start + 1, kind))
    return tuple(columns)


def _heading(screen: Screen, top: int) -> list[TextRun]:
    for row in range(top - 1, max(0, top - 3), -1):
        runs = text_runs(screen, [row], protected_only=False)
        if any(any(ch.isalpha() for ch in r.text) for r in runs):
            return runs
    return []


def default_paging(keys: frozenset[Key]) -> tuple[Key | None, Key | None]:
    """The conventional forward/back paging keys of a host: PF8/PF7 (CUA), else PageDown/PageUp."""
    if Key.PF8 in keys:
        return Key.PF8, Key.PF7
    if Key.PAGE_DOWN in keys:
        return Key.PAGE_DOWN, Key.PAGE_UP
    return None, None
