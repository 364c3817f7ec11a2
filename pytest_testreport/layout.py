"""Terminal layout for the CLI: display widths, fitting, aligned tables, durations, times."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any, Optional

from .reading import parse_time

WIDTH = 100
GAP = "  "


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide East Asian characters take two)."""
    return sum(_char_width(c) for c in text)


def clean(value: Any) -> str:
    if value is None:  # a field the target's API does not have
        return "-"
    # A newline or tab inside a cell would break the table's alignment.
    return "".join(c if c.isprintable() else " " for c in str(value))


def fit(text: str, width: int, *, keep_end: bool = False) -> str:
    """Cut ``text`` to ``width`` columns with ``…``; ``keep_end`` keeps the tail (node ids)."""
    if text_width(text) <= width:
        return text
    kept: list[str] = []
    used = 1  # the ellipsis
    for char in reversed(text) if keep_end else text:
        if used + _char_width(char) > width:
            break
        kept.append(char)
        used += _char_width(char)
    if keep_end:
        return "…" + "".join(reversed(kept))
    return "".join(kept) + "…"


def _pad(text: str, width: int, right: bool) -> str:
    space = " " * (width - text_width(text))
    return space + text if right else text + space


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    flex: int,
    right: Sequence[int] = (),
    keep_end: bool = False,
    notes: Optional[Sequence[Sequence[str]]] = None,
) -> list[str]:
    """Aligned lines within ``WIDTH``; column ``flex`` shrinks; ``notes`` go under each row."""
    cells = [[clean(c) for c in row] for row in rows]
    widths = [
        max([text_width(h)] + [text_width(r[i]) for r in cells]) for i, h in enumerate(headers)
    ]
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - WIDTH
    if excess > 0:
        widths[flex] = max(text_width(headers[flex]), widths[flex] - excess)
    lines = []
    for index, row in enumerate([list(headers), *cells]):
        fitted = [
            fit(c, w, keep_end=keep_end and i == flex) for i, (c, w) in enumerate(zip(row, widths))
        ]
        lines.append(
            GAP.join(
                _pad(c, w, i in right) for i, (c, w) in enumerate(zip(fitted, widths))
            ).rstrip()
        )
        for note in notes[index - 1] if notes and index else ():
            lines.append(fit("    " + clean(note), WIDTH))
    return lines


def seconds(value: Optional[float]) -> str:
    """A duration for people: ``0.25s``, ``2m05s``, ``1h02m``; ``-`` when unknown."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f}s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def time_text(value: Optional[str], with_seconds: bool = False) -> str:
    parsed = parse_time(value)
    if parsed is None:
        return value or "-"
    return parsed.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def on_branch(branch: Optional[str]) -> str:
    return f" on branch {branch}" if branch else ""
