"""The read side every target implements, and the JSON shapes the CLI prints.

A ``Reader`` answers the CLI's questions (``list``, ``show``, ``failed``, ``flaky``, ``slow``)
for one target. Every reader builds its answers with the functions here, so the shapes are the
same whatever the target. Scripts depend on these shapes: add keys, never rename or drop one.

Session object (``list`` rows; ``show`` adds ``tests``)::

    {
      "id": 3,                      # int, the local row id
      "uuid": "0b6f…",
      "status": "error",            # "in_progress" | "successful" | "error"
      "error_message": "1 failed",  # null when successful or still running
      "branch": "main",             # null when unknown
      "revision": "9fceb02…",       # null when unknown
      "started_at": "2024-05-01T10:00:00Z",
      "finished_at": "2024-05-01T10:00:12.5Z",   # null while running (or killed)
      "duration": 12.5,             # seconds, null while running (or killed)
      "tests_count": 10,            # each test once, as its final attempt
      "passed_count": 8,            # includes xpassed
      "failed_count": 1,            # includes strict xpass
      "skipped_count": 1,           # includes xfailed
      "error_count": 0,             # setup/teardown/collection errors, crashes
      "ci_provider": "github",      # null outside CI
      "run_url": "https://…"        # null when the CI gives none
    }

Test object (one attempt of one test; ``show`` lists every attempt, ``failed`` final ones)::

    {
      "nodeid": "tests/test_a.py::test_x[1]",
      "name": "test_x[1]",
      "path": "tests/test_a.py",
      "line": 12,                   # 1-based, null when unknown
      "location": "tests/test_a.py:12",   # "path:line", or the path alone
      "kind": "test",               # "test" | "collection_error" | "crash"
      "outcome": "failed",          # passed|failed|error|skipped|xfailed|xpassed
      "reason": null,               # skip/xfail reason
      "duration": 0.25,             # seconds
      "attempt": 1,                 # 1-based
      "final": true,                # false for attempts that were rerun
      "worker": "gw0",              # xdist worker, null without xdist
      "started_at": "…Z", "finished_at": "…Z",
      "failure": {"message": "…", "phase": "call", "traceback": ["line", …]},  # or null
      "steps": [{"id", "parent_id", "keyword", "text", "started_at", "finished_at",
                 "duration", "result", "failure"}, …],   # in start order; duration null if open
      "metadata": {"key": "value", "twice": ["first", "second"]},
      "tags": ["slow", …]
    }

``flaky`` rows: ``{"nodeid", "flips", "sessions", "outcomes"}``. ``outcomes`` lists every
attempt's outcome over the last N sessions, oldest first, leaving out skipped and xfailed;
``flips`` counts the changes between pass-like (passed, xpassed) and fail-like (failed, error)
neighbours in that list; ``sessions`` counts the sessions that contributed to it. Sorted by
``flips`` descending, then node id.

``slow`` rows: ``{"nodeid", "median_duration", "runs", "max_duration"}`` over the final attempts of
the last N sessions, the ``top`` slowest by median, slowest first.

``history`` rows, one per session the test ran in, newest first: ``{"session_id", "session_uuid",
"branch", "revision", "started_at", "outcome", "duration", "attempts", "message"}`` where
``outcome`` and ``duration`` are the final attempt's, ``attempts`` counts its attempts and
``message`` is the final attempt's failure message (null when it did not fail).
"""

from __future__ import annotations

import itertools
import statistics
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from .timefmt import format_time, parse_time  # also imported from here by the readers

if TYPE_CHECKING:
    from .config import Settings

LATEST = "latest"
# Seconds pytest's start-up may spend asking a service what failed (--testreport-failed-from).
FAILED_FROM_DEADLINE = 60.0
PASS_LIKE = frozenset({"passed", "xpassed"})
FAIL_LIKE = frozenset({"failed", "error"})
Json = dict[str, Any]


class NotFound(Exception):
    """The session asked for does not exist (on that branch)."""


class Unsupported(Exception):
    """The target's API cannot answer this verb or option; the CLI treats it as bad usage."""


@dataclass(frozen=True)
class FailedTests:
    """What ``--testreport-failed-from=TARGET[:REF]`` found, for every target alike.

    No ``nodeids`` means run everything (nothing failed, no history, the service cannot be
    read); ``message`` says which, for pytest's header. ``unmapped`` counts failed tests the
    target knows but could not map back to node ids.
    """

    message: str
    nodeids: list[str] = field(default_factory=list)
    unmapped: int = 0


class Reader(ABC):
    """Answers the CLI's questions for one target. ``ref`` is a session id or ``latest``."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Reader:
        """The reader the settings describe; ``pytest.UsageError`` naming what is missing."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from settings")

    @classmethod
    def failed_from(cls, settings: Settings, ref: Optional[str]) -> FailedTests:
        """``--testreport-failed-from``: the tests that failed in session ``ref`` (default: the
        newest on the current branch). A reader that cannot answer leaves this out; the option
        then refuses its target. Raises ``pytest.UsageError`` for a misconfiguration."""
        raise Unsupported(f"{cls.__name__} cannot name the tests that failed")

    @abstractmethod
    def describe(self) -> str:
        """Where the data comes from, for messages (a store path, a service URL)."""

    @abstractmethod
    def list_sessions(self, branch: Optional[str], page: int, per_page: int) -> list[Json]:
        """Session objects, newest first; ``page`` is 1-based."""

    @abstractmethod
    def session(self, ref: str, branch: Optional[str]) -> Json:
        """The session object ``ref`` names, without its tests; raises ``NotFound``."""

    @abstractmethod
    def get_session(self, ref: str, branch: Optional[str]) -> Json:
        """The session object plus ``tests``: every attempt, in the order they were stored."""

    @abstractmethod
    def failed(self, ref: str, branch: Optional[str]) -> list[Json]:
        """Test objects whose final attempt failed or errored."""

    @abstractmethod
    def flaky(self, last: int, min_flips: int, branch: Optional[str]) -> list[Json]:
        """Tests that flipped between passing and failing at least ``min_flips`` times."""

    @abstractmethod
    def slow(self, top: int, last: int, branch: Optional[str]) -> list[Json]:
        """The ``top`` slowest tests by median duration of their final attempts."""

    def history(self, nodeid: str, last: int, branch: Optional[str]) -> list[Json]:
        """One test's final outcome and duration in the newest ``last`` sessions it ran in."""
        raise Unsupported(f"history is not available for {self.describe()}; use the local store")

    def close(self) -> None:
        """Release connections; the default reader holds none."""
        return None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def page_of(items: Iterable[Any], page: int, per_page: int) -> list[Any]:
    """Page ``page`` (1-based) of a stream, reading no further than that page's end."""
    start = (page - 1) * per_page
    return list(itertools.islice(items, start, start + per_page))


def not_found(ref: str, branch: Optional[str], where: str) -> NotFound:
    """The one-line error for an unknown session."""
    on_branch = f" on branch {branch!r}" if branch else ""
    return NotFound(f"no session {ref!r}{on_branch} in {where}")


def _seconds(start: Optional[datetime], end: Optional[datetime]) -> Optional[float]:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def session_object(
    *,
    id: Any,
    uuid: str,
    status: str,
    error_message: Optional[str],
    branch: Optional[str],
    revision: Optional[str],
    started_at: Optional[str],
    finished_at: Optional[str],
    counts: Sequence[int],
    ci_provider: Optional[str],
    run_url: Optional[str],
) -> Json:
    """A session object; ``counts`` is (tests, passed, failed, skipped, error)."""
    tests, passed, failed, skipped, error = counts
    return {
        "id": id,
        "uuid": uuid,
        "status": status,
        "error_message": error_message,
        "branch": branch,
        "revision": revision,
        **_timespan(started_at, finished_at),
        "tests_count": tests,
        "passed_count": passed,
        "failed_count": failed,
        "skipped_count": skipped,
        "error_count": error,
        "ci_provider": None if ci_provider in (None, "", "none") else ci_provider,
        "run_url": run_url,
    }


def _timespan(started_at: Optional[str], finished_at: Optional[str]) -> Json:
    """``started_at``, ``finished_at`` (normalized to UTC with Z) and ``duration`` in seconds."""
    started, finished = parse_time(started_at), parse_time(finished_at)
    return {
        "started_at": format_time(started) if started else started_at,
        "finished_at": format_time(finished) if finished else finished_at,
        "duration": _seconds(started, finished),
    }


def failure_object(
    message: Optional[str], phase: Optional[str], traceback: Optional[Iterable[str]]
) -> Optional[Json]:
    """The ``failure`` of a test object, or None when it did not fail."""
    if message is None and phase is None:
        return None
    return {"message": message or "", "phase": phase or "", "traceback": list(traceback or [])}


def step_object(
    *,
    id: str,
    parent_id: Optional[str],
    keyword: Optional[str],
    text: str,
    started_at: Optional[str],
    finished_at: Optional[str],
    result: str,
    failure: Optional[str],
) -> Json:
    """One step of a test object."""
    return {
        "id": id,
        "parent_id": parent_id,
        "keyword": keyword,
        "text": text,
        **_timespan(started_at, finished_at),
        "result": result,
        "failure": failure,
    }


def metadata_object(pairs: Iterable[tuple[str, str]]) -> Json:
    """Metadata pairs as an object; a key given more than once maps to its values, in order."""
    out: Json = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]
    return out


def location(path: str, line: Optional[int]) -> str:
    """``path:line``, or the path alone when the line is unknown."""
    return f"{path}:{line}" if line is not None else path


def result_object(
    *,
    nodeid: str,
    name: str,
    path: str,
    line: Optional[int],
    kind: str,
    outcome: str,
    reason: Optional[str],
    duration: float,
    attempt: int,
    final: bool,
    worker: Optional[str],
    started_at: Optional[str],
    finished_at: Optional[str],
    failure: Optional[Json],
    steps: Sequence[Json],
    metadata: Iterable[tuple[str, str]],
    tags: Iterable[str],
) -> Json:
    """One attempt of one test."""
    started, finished = parse_time(started_at), parse_time(finished_at)
    return {
        "nodeid": nodeid,
        "name": name,
        "path": path,
        "line": line,
        "location": location(path, line),
        "kind": kind,
        "outcome": outcome,
        "reason": reason,
        "duration": float(duration),
        "attempt": attempt,
        "final": bool(final),
        "worker": worker,
        "started_at": format_time(started) if started else started_at,
        "finished_at": format_time(finished) if finished else finished_at,
        "failure": failure,
        "steps": list(steps),
        "metadata": metadata_object(metadata),
        "tags": list(tags),
    }


def count_flips(outcomes: Sequence[str]) -> int:
    """Changes between pass-like and fail-like neighbours; other outcomes are ignored."""
    kinds = [o in FAIL_LIKE for o in outcomes if o in PASS_LIKE or o in FAIL_LIKE]
    return sum(1 for before, after in zip(kinds, kinds[1:]) if before != after)


def flaky_object(nodeid: str, outcomes: Sequence[str], sessions: int) -> Json:
    """One ``flaky`` row."""
    return {
        "nodeid": nodeid,
        "flips": count_flips(outcomes),
        "sessions": sessions,
        "outcomes": list(outcomes),
    }


def slow_object(nodeid: str, durations: Sequence[float]) -> Json:
    """One ``slow`` row from the durations of a test's final attempts."""
    return {
        "nodeid": nodeid,
        "median_duration": float(statistics.median(durations)),
        "runs": len(durations),
        "max_duration": float(max(durations)),
    }


def sort_flaky(rows: Iterable[Json]) -> list[Json]:
    """Most flips first; node id breaks ties so the order is stable."""
    return sorted(rows, key=lambda r: (-r["flips"], r["nodeid"]))


def history_object(
    *,
    session_id: Any,
    session_uuid: str,
    branch: Optional[str],
    revision: Optional[str],
    started_at: Optional[str],
    outcome: str,
    duration: float,
    attempts: int,
    message: Optional[str],
) -> Json:
    """One ``history`` row."""
    started = parse_time(started_at)
    return {
        "session_id": session_id,
        "session_uuid": session_uuid,
        "branch": branch,
        "revision": revision,
        "started_at": format_time(started) if started else started_at,
        "outcome": outcome,
        "duration": float(duration),
        "attempts": attempts,
        "message": message,
    }
