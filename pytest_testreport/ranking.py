"""The evidence behind ``flaky`` and the trend behind ``slow`` (local store).

Added to the rows of ``reading.flaky_object`` and ``reading.slow_object``, whose keys stay:
``flaky`` rows add ``flip_sessions`` (the sessions in which the outcome changed from the one
before, oldest first), ``rerun_passes`` (sessions where a rerun passed after a failing attempt)
and ``session_ids``; ``slow`` rows add ``trend`` (final durations, oldest first),
``trend_sessions``, ``latest_duration`` and ``change`` (the latest duration against the median
of the earlier ones, as a fraction: 0.5 is 50 % slower; null with one run or a zero median).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Optional

from .reading import FAIL_LIKE, PASS_LIKE, Json

SPARKS = "▁▂▃▄▅▆▇█"


def flaky_evidence(history: Sequence[tuple[int, str, int]]) -> Json:
    """From ``(session id, outcome, attempt)`` in order: where the flips happened."""
    flips: list[int] = []
    reruns: list[int] = []
    before: Optional[tuple[bool, int]] = None
    for session_id, outcome, attempt in history:
        if outcome not in PASS_LIKE and outcome not in FAIL_LIKE:
            continue
        bad = outcome in FAIL_LIKE
        if before is not None and before[0] != bad:
            if session_id not in flips:
                flips.append(session_id)
            if not bad and attempt > 1 and before[1] == session_id and session_id not in reruns:
                reruns.append(session_id)
        before = (bad, session_id)
    return {
        "flip_sessions": flips,
        "rerun_passes": len(reruns),
        "session_ids": list(dict.fromkeys(s for s, _, _ in history)),
    }


def slow_trend(points: Sequence[tuple[int, float]]) -> Json:
    """From ``(session id, duration)`` oldest first: the trend and the latest change."""
    durations = [float(d) for _, d in points]
    earlier = statistics.median(durations[:-1]) if len(durations) > 1 else 0.0
    return {
        "trend": durations,
        "trend_sessions": [s for s, _ in points],
        "latest_duration": durations[-1],
        "change": (durations[-1] - earlier) / earlier if earlier > 0 else None,
    }


def sparkline(values: Sequence[float]) -> str:
    """One block per value, scaled between the smallest and the largest."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARKS[round((v - low) / span * (len(SPARKS) - 1))] for v in values)


def change_text(change: Optional[float]) -> str:
    return "-" if change is None else f"{change:+.0%}"
