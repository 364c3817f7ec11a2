"""Bounded text: long strings and line lists keep their head and tail with a visible marker."""

from __future__ import annotations

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
