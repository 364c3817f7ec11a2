"""Terminal layout for the CLI: display widths, fitting, aligned tables, colors, durations."""

from __future__ import annotations

import os
import shutil
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, TextIO

from .reading import parse_time

WIDTH = 100  # when the output is no terminal and COLUMNS is not set
MIN_WIDTH = 40
GAP = "  "
_COLORS = {"passed": "32", "xpassed": "33", "failed": "31", "error": "1;31", "skipped": "33",
           "xfailed": "33", "successful": "32", "in_progress": "36"}  # fmt: skip


def width() -> int:
    """Columns to fill: ``COLUMNS``, else the terminal's width, else ``WIDTH``."""
    return max(MIN_WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)


class Fitted(str):
    """A line that fits the width already (and may hold color codes): printed as it is."""


def use_color(stream: TextIO, env: Mapping[str, str] = os.environ) -> bool:
    """Colors on a terminal; ``NO_COLOR`` turns them off, ``FORCE_COLOR`` on (NO_COLOR wins)."""
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str) -> str:
    """``text`` (an outcome or status, maybe padded) in its color."""
    code = _COLORS.get(text.strip().split(":")[0])
    return f"\x1b[{code}m{text}\x1b[0m" if code else text


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


def _take(text: str, width: int, *, from_end: bool = False) -> str:
    """The longest start (or end) of ``text`` within ``width`` columns."""
    kept: list[str] = []
    used = 0
    for char in reversed(text) if from_end else text:
        used += _char_width(char)
        if used > width:
            break
        kept.append(char)
    return "".join(reversed(kept)) if from_end else "".join(kept)


def _middle(text: str, width: int) -> str:
    """``text`` cut in its middle to ``width`` columns."""
    if text_width(text) <= width:
        return text
    start = _take(text, (width - 1) // 2)
    return start + "…" + _take(text, width - 1 - text_width(start), from_end=True)


def fit_nodeid(nodeid: str, width: int) -> str:
    """Cut a node id in the middle, so that its file name and its test name both stay."""
    if text_width(nodeid) <= width:
        return nodeid
    path, sep, rest = nodeid.partition("::")
    if not sep:  # a file (a collection error): its end is its name
        return fit(nodeid, width, keep_end=True)
    name = rest.rsplit("::", 1)[-1]
    room = width - text_width(name) - 3
    if room >= text_width(path):  # the whole path, then as much of the classes as fits
        return _take(nodeid[: len(nodeid) - len(name) - 2], room) + "…::" + name
    joint = "::…::" if rest != name else "::"  # classes left out are marked
    file = path.rsplit("/", 1)[-1]
    room = width - text_width(name) - text_width(joint) - 1
    if room >= text_width(file):  # the directories cut from the left
        return "…" + _take(path, room, from_end=True) + joint + name
    # Even the file and the test name do not fit: the file name, and the name cut in the middle.
    prefix = _middle(file, max(1, width // 2 - text_width(joint))) + joint
    return prefix + _middle(name, width - text_width(prefix))


def _pad(text: str, width: int, right: bool) -> str:
    space = " " * (width - text_width(text))
    return space + text if right else text + space


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    flex: int,
    right: Sequence[int] = (),
    nodeid: bool = False,
    notes: Optional[Sequence[Sequence[str]]] = None,
    styles: Optional[Mapping[int, Callable[[str], str]]] = None,
) -> list[str]:
    """Aligned lines within the terminal's width; column ``flex`` shrinks (a node id column
    is cut in the middle); ``notes`` go under each row; ``styles`` color body cells."""
    total = width()
    cells = [[clean(c) for c in row] for row in rows]
    widths = [
        max([text_width(h)] + [text_width(r[i]) for r in cells]) for i, h in enumerate(headers)
    ]
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - total
    if excess > 0:
        widths[flex] = max(text_width(headers[flex]), widths[flex] - excess)
    lines = []
    for index, row in enumerate([list(headers), *cells]):
        fitted = [
            fit_nodeid(c, w) if nodeid and i == flex else fit(c, w)
            for i, (c, w) in enumerate(zip(row, widths))
        ]
        padded = [_pad(c, w, i in right) for i, (c, w) in enumerate(zip(fitted, widths))]
        if index and styles:
            padded = [styles[i](c) if i in styles else c for i, c in enumerate(padded)]
        lines.append(Fitted(GAP.join(padded).rstrip()))
        for note in notes[index - 1] if notes and index else ():
            lines.append(Fitted(fit("    " + clean(note), total)))
    return lines


def seconds(value: Optional[float]) -> str:
    """A duration for people: ``250ms``, ``2.50s``, ``2m05s``, ``1h02m``; ``-`` when unknown."""
    if value is None:
        return "-"
    if value < 0.9995:  # what would round to 1000ms reads as 1.00s
        return f"{value * 1000:.0f}ms"
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
