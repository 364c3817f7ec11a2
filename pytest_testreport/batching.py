"""Cutting a list into request-sized slices: at most so many items and about so many bytes."""

from __future__ import annotations

import math
from collections.abc import Sequence


def spans(
    weights: Sequence[int], count: int, size: float = math.inf, start: int = 0
) -> list[tuple[int, int]]:
    """Consecutive ``(begin, end)`` slices of the items from ``start``, each of at most ``count``
    items and at most ``size`` in total weight (an item heavier than that goes alone)."""
    out: list[tuple[int, int]] = []
    begin, total = start, 0
    for index in range(start, len(weights)):
        weight = weights[index]
        if index > begin and (index - begin >= count or total + weight > size):
            out.append((begin, index))
            begin, total = index, 0
        total += weight
    if begin < len(weights):
        out.append((begin, len(weights)))
    return out
