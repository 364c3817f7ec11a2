"""The data one HTML report embeds, read from the local store.

Sessions and failures come through the CLI's read side (``LocalReader``), so the report shows
what ``pytest-testreport show`` shows. The per-test columns and the history (outcome strips,
flaky, slow trends) are read here with a few set-wise queries: a 100,000-test session must not
become 100,000 Python dicts with their steps and metadata.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from ..reading import Json, parse_time
from ..targets.local.reader import LocalReader
from .history import flaky_rows, slow_rows, strips

# One letter per outcome in the embedded data (compact for 100,000 tests; see table.js).
LETTERS = {"passed": "p", "failed": "f", "error": "e", "skipped": "s", "xfailed": "x",
           "xpassed": "X"}  # fmt: skip
OUTCOMES = tuple(LETTERS)
CAPTURE_LIMIT = 200_000  # characters of each captured stream of a failure kept in the page


def page_data(
    reader: LocalReader, session: Json, last: int, branch: Optional[str], targets: list[Json]
) -> Json:
    """Everything the page shows for ``session`` (a session object of ``reader``) and the
    ``last`` sessions before it."""
    conn = _read_only(reader.path)
    try:
        history = _history_sessions(conn, session["id"], last, branch)
        ids = [s["id"] for s in history]
        nodeids, outcomes, durations, attempts = _tests(conn, session["id"])
        counts = Counter(outcomes)
        return {
            "session": {**session, "outcomes": {o: counts.get(LETTERS[o], 0) for o in OUTCOMES}},
            "targets": targets,
            "history": history,
            "tests": {
                "nodeid": nodeids,
                "outcome": "".join(outcomes),
                "duration": durations,
                "attempts": attempts,
                "strip": strips(conn, ids, nodeids, LETTERS),
            },
            "failures": _failures(reader, conn, session["id"], nodeids),
            "flaky": flaky_rows(conn, ids, LETTERS),
            "slow": slow_rows(conn, ids, session["id"]),
        }
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


def _tests(conn: sqlite3.Connection, session_id: int) -> tuple[list[str], list[str], list[float],
                                                                list[int]]:  # fmt: skip
    """Final attempts of the session as columns, in stored order (one entry per node id)."""
    rows = conn.execute(
        "SELECT nodeid, outcome, duration, attempt FROM results"
        " WHERE session_id = ? AND final = 1 ORDER BY id",
        (session_id,),
    )
    index: dict[str, int] = {}
    nodeids: list[str] = []
    outcomes: list[str] = []
    durations: list[float] = []
    attempts: list[int] = []
    for nodeid, outcome, duration, attempt in rows:
        at = index.get(nodeid)
        if at is None:  # a node id stored twice keeps its latest row
            index[nodeid] = at = len(nodeids)
            nodeids.append(nodeid)
            outcomes.append("")
            durations.append(0.0)
            attempts.append(1)
        outcomes[at] = LETTERS.get(outcome, "e")
        durations[at] = round(float(duration or 0.0), 4)
        attempts[at] = int(attempt or 1)
    return nodeids, outcomes, durations, attempts


def _clip(text: Optional[str]) -> str:
    if not text:
        return ""
    if len(text) <= CAPTURE_LIMIT:
        return text
    more = len(text) - CAPTURE_LIMIT
    return text[:CAPTURE_LIMIT] + f"\n… {more} more characters: see pytest-testreport show"


def _failures(
    reader: LocalReader, conn: sqlite3.Connection, session_id: int, nodeids: list[str]
) -> list[Json]:
    """Failed and errored tests with traceback, captured output and steps, in stored order."""
    index = {nodeid: i for i, nodeid in enumerate(nodeids)}
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
