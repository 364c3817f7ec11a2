"""The data one HTML report embeds, read from the local store.

Sessions and failures come through the CLI's read side (``LocalReader``), so the report shows
what ``pytest-testreport show`` shows. The per-test columns and the history (outcome strips,
flaky, slow trends) are read here with a few set-wise queries: a 100,000-test session must not
become 100,000 Python dicts with their steps and metadata.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..reading import Json, parse_time
from ..targets.local.reader import LocalReader
from .history import flaky_rows, slow_rows, strips
from .runs import run_history, shards

# One letter per outcome in the embedded data (compact for 100,000 tests; see table.js).
LETTERS = {"passed": "p", "failed": "f", "error": "e", "skipped": "s", "xfailed": "x",
           "xpassed": "X"}  # fmt: skip
OUTCOMES = tuple(LETTERS)
CAPTURE_LIMIT = 200_000  # characters of each captured stream of a failure kept in the page


def page_data(
    reader: LocalReader, session: Json, last: int, branch: Optional[str], targets: list[Json]
) -> Json:
    """Everything the page shows for ``session`` (a session object of ``reader``) and the
    ``last`` sessions before it; for a logical run (``run:<id>``, see runs.py) the run's
    shards together and the ``last`` runs before it."""
    conn = _read_only(reader.path)
    joined = bool(session.get("run"))
    try:
        if joined:
            members = list(session["sessions"])
            history = run_history(conn, session, last, branch)
            columns = {sid: i for i, run in enumerate(history) for sid in run["sessions"]}
        else:
            members = [session["id"]]
            history = _history_sessions(conn, session["id"], last, branch)
            columns = {s["id"]: i for i, s in enumerate(history)}
        tests = _tests(conn, members)
        counts = Counter(tests.outcomes)
        table: Json = {
            "nodeid": tests.nodeids,
            "outcome": "".join(tests.outcomes),
            "duration": tests.durations,
            "attempts": tests.attempts,
            "strip": strips(conn, columns, tests.nodeids, LETTERS),
        }
        data: Json = {
            "session": {**session, "outcomes": {o: counts.get(LETTERS[o], 0) for o in OUTCOMES}},
            "targets": targets,
            "history": history,
            "tests": table,
            "failures": _failures(reader, conn, members, tests, joined),
            "flaky": flaky_rows(conn, columns, LETTERS),
            "slow": slow_rows(conn, columns, members),
        }
        if joined:  # the shard column and list; a one-session page stays as it was
            table["session"] = tests.sessions
            data["shards"] = shards(conn, members)
        return data
    finally:
        conn.close()


def _read_only(path: Path) -> sqlite3.Connection:
    """A second connection that cannot write: the report never changes the store."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def _history_sessions(
    conn: sqlite3.Connection, session_id: int, last: int, branch: Optional[str]
) -> list[Json]:
    """The reported session and up to ``last`` sessions before it (on ``branch``), oldest first."""
    where, params = "id <= ?", [session_id]
    if branch is not None:
        where, params = where + " AND branch = ?", [*params, branch]
    rows = conn.execute(
        "SELECT id, status, branch, revision, started_at, finished_at, tests_count, passed_count,"
        f" failed_count, skipped_count, error_count FROM sessions WHERE {where}"
        " ORDER BY id DESC LIMIT ?",
        (*params, last + 1),
    ).fetchall()
    out = []
    for row in reversed(rows):
        started, finished = parse_time(row["started_at"]), parse_time(row["finished_at"])
        out.append(
            {
                "id": row["id"],
                "status": row["status"],
                "branch": row["branch"],
                "revision": row["revision"],
                "started_at": row["started_at"],
                "duration": (finished - started).total_seconds() if started and finished else None,
                "passed": row["passed_count"],
                "failed": row["failed_count"],
                "error": row["error_count"],
                "skipped": row["skipped_count"],
            }
        )
    return out


@dataclass
class Tests:
    """Final attempts as columns: one entry per node id, with the session it ran in."""

    nodeids: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)


def _tests(conn: sqlite3.Connection, session_ids: list[int]) -> Tests:
    """Final attempts of the sessions, in stored order; a node id stored twice (or run by two
    sessions of one run, e.g. a re-run job) keeps its newest row."""
    rows = conn.execute(
        "SELECT nodeid, outcome, duration, attempt, session_id FROM results"
        f" WHERE session_id IN ({', '.join('?' * len(session_ids))}) AND final = 1"
        " ORDER BY session_id, id",
        session_ids,
    )
    index: dict[str, int] = {}
    out = Tests()
    for nodeid, outcome, duration, attempt, session_id in rows:
        at = index.get(nodeid)
        if at is None:
            index[nodeid] = at = len(out.nodeids)
            out.nodeids.append(nodeid)
            out.outcomes.append("")
            out.durations.append(0.0)
            out.attempts.append(1)
            out.sessions.append(session_id)
        out.outcomes[at] = LETTERS.get(outcome, "e")
        out.durations[at] = round(float(duration or 0.0), 4)
        out.attempts[at] = int(attempt or 1)
        out.sessions[at] = session_id
    return out


def _clip(text: Optional[str]) -> str:
    if not text:
        return ""
    if len(text) <= CAPTURE_LIMIT:
        return text
    more = len(text) - CAPTURE_LIMIT
    return text[:CAPTURE_LIMIT] + f"\n… {more} more characters: see pytest-testreport show"


def _failures(reader: LocalReader, conn: sqlite3.Connection, members: list[int],
              tests: Tests, joined: bool) -> list[Json]:  # fmt: skip
    """Failed and errored tests with traceback, captured output and steps, in stored order,
    from every session of ``members`` (each marked with its ``session`` when ``joined``)."""
    index = {nodeid: i for i, nodeid in enumerate(tests.nodeids)}
    out: list[Json] = []
    for session_id in members:
        for failure in _session_failures(reader, conn, session_id, index):
            at = failure["test"]
            if at >= 0 and tests.sessions[at] != session_id:
                continue  # a later session of the run ran the test again: its result counts
            out.append({**failure, "session": session_id} if joined else failure)
    return out


def _session_failures(reader: LocalReader, conn: sqlite3.Connection, session_id: int,
                      index: dict[str, int]) -> list[Json]:  # fmt: skip
    tests = reader.failed(str(session_id), None)
    captured = conn.execute(
        "SELECT stdout, stderr, log FROM results WHERE session_id = ? AND final = 1"
        " AND outcome IN ('failed', 'error') ORDER BY id",
        (session_id,),
    ).fetchall()
    out: list[Json] = []
    for test, streams in zip(tests, captured):
        failure: dict[str, Any] = test["failure"] or {}
        out.append(
            {
                "test": index.get(test["nodeid"], -1),
                "nodeid": test["nodeid"],
                "outcome": test["outcome"],
                "location": test["location"],
                "phase": failure.get("phase", ""),
                "message": failure.get("message", ""),
                "traceback": "\n".join(failure.get("traceback", [])),
                "stdout": _clip(streams["stdout"]),
                "stderr": _clip(streams["stderr"]),
                "log": _clip(streams["log"]),
                "steps": [_step(s) for s in test["steps"]],
            }
        )
    return out


def _step(step: Json) -> Json:
    return {k: step[k] for k in ("id", "parent_id", "keyword", "text", "duration", "result",
                                 "failure")}  # fmt: skip
