"""Options of the features that use the history: sharding and quarantine.

``config.all_options`` adds them to the core and target options; kept here so that
config.py stays small.
"""

from __future__ import annotations

from typing import Callable

from .option import Option


def parse_shard(value: str) -> tuple[int, int]:
    """``I/N`` (1-based) -> ``(I, N)``."""
    index, sep, count = value.strip().partition("/")
    if not sep or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError("expected I/N, for example 2/4")
    i, n = int(index), int(count)
    if not 1 <= i <= n:
        raise ValueError(f"expected I/N with 1 <= I <= N, got {i}/{n}")
    return i, n


def parse_count(minimum: int) -> Callable[[str], int]:
    """A whole number of at least ``minimum``."""

    def parse(value: str) -> int:
        text = value.strip()
        if not text.isdigit() or int(text) < minimum:
            raise ValueError(f"expected a whole number >= {minimum}")
        return int(text)

    return parse


HISTORY_OPTIONS: tuple[Option, ...] = (
    Option("shard", "run only shard I of N (1-based), split by the tests' recent durations",
           parse_shard, None, "I/N"),
    Option("durations", "plan shards with this JSON file of durations (pytest-split's shape) "
           "instead of the local store", metavar="PATH"),
    Option("durations_last", "passing attempts per test whose median plans the shards "
           "(default 10)", parse_count(1), 10, "N"),
    Option("quarantine", "quarantine the tests of SOURCE: local (flaky in the store), "
           "buildkite (muted tests) or a file of node ids; their failures do not fail the run",
           metavar="SOURCE"),
    Option("quarantine_sessions", "sessions the local quarantine looks at (default 10)",
           parse_count(1), 10, "N"),
    Option("quarantine_days", "days the local quarantine looks back (default 30; 0: no limit)",
           parse_count(0), 30, "DAYS"),
)  # fmt: skip
