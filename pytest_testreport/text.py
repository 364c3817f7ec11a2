"""Text as the targets send it: valid, clean, and bounded with a visible marker.

Long strings and line lists keep their head and tail around a marker (``truncate``,
``truncate_lines``); ``clean_text`` makes any value valid UTF-8 without control characters,
``clean_xml`` also fit for XML 1.0 and without ANSI colours (Buddy's JUnit fragments).
"""

from __future__ import annotations

import re
from typing import Any, Optional

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 but tab/LF/CR, and C1
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_NOT_XML = re.compile("[\ufffe\uffff]")  # XML 1.0 also forbids these (and the above)

TRUNCATION_MARKER = "… [truncated {} characters]"


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, keeping head and tail with a visible marker."""
    if len(text) <= limit:
        return text
    marker = TRUNCATION_MARKER.format(len(text) - limit)
    keep = max(limit - len(marker), 0)
    head = keep * 2 // 3
    tail = keep - head
    return text[:head] + marker + (text[-tail:] if tail else "")


def truncate_lines(lines: list[str], limit: int) -> list[str]:
    """Keep the first and last lines of a long list, with one marker line between them."""
    if len(lines) <= limit:
        return lines
    head = limit // 2
    tail = limit - head - 1
    marker = f"… [truncated {len(lines) - head - tail} lines]"
    return [*lines[:head], marker, *lines[len(lines) - tail :]]


def clean_text(value: Any, limit: Optional[int] = None) -> str:
    """Valid UTF-8 without control characters (tabs and newlines stay), bounded with a marker."""
    text = str(value).encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    text = _CONTROL.sub("", text)
    return truncate(text, limit) if limit is not None else text


def clean_xml(value: Any, limit: Optional[int] = None) -> str:
    """``clean_text`` without ANSI colours and without what XML 1.0 forbids (a negative
    ``limit`` bounds nothing)."""
    bound = limit if limit is not None and limit >= 0 else None
    return clean_text(_NOT_XML.sub("", _ANSI.sub("", str(value))), bound)
