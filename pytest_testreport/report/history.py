"""History queries of the HTML report: outcome strips, flaky tests and slow-test trends.

Each runs once per report over the sessions shown (at most ``--last`` + 1), set-wise in SQL,
and streams its rows: memory grows with the number of tests, not with tests x sessions.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence

from ..reading import Json

ABSENT = "."  # strip letter for a session in which the test did not run
FLAKY_LIMIT = 500  # rows of the flaky table; the page says when there are more
SLOW_TOP = 20
_PASS = ("passed", "xpassed")
_FAIL = ("failed", "error")


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


Columns = dict[int, int]  # session id -> history column (a run's sessions share one)


def _width(columns: Columns) -> int:
    return max(columns.values()) + 1 if columns else 0


def strips(
    conn: sqlite3.Connection, columns: Columns, nodeids: list[str], letters: dict[str, str]
) -> list[str]:
    """Per test, one letter per history column (oldest first): its final outcome there.

    Rows come in session order, so in a column of several sessions the newest one's wins.
    """
    width = _width(columns)
    ids = list(columns)
    index = {nodeid: i for i, nodeid in enumerate(nodeids)}
    cells = bytearray(ABSENT.encode() * (width * len(nodeids)))
    rows = conn.execute(
        f"SELECT nodeid, session_id, outcome FROM results WHERE session_id IN ({_marks(ids)})"
        " AND final = 1 ORDER BY session_id, id",
        ids,
    )
    for nodeid, session_id, outcome in rows:
        at = index.get(nodeid)
        if at is not None:
            cells[at * width + columns[session_id]] = ord(letters.get(outcome, "e"))
    text = cells.decode()
    return [text[i * width : (i + 1) * width] for i in range(len(nodeids))]


def _strip_of(conn: sqlite3.Connection, columns: Columns, nodeid: str,
              letters: dict[str, str]) -> str:  # fmt: skip
    ids = list(columns)
    cells = [ABSENT] * _width(columns)
    rows = conn.execute(
        f"SELECT session_id, outcome FROM results WHERE nodeid = ? AND final = 1"
        f" AND session_id IN ({_marks(ids)}) ORDER BY session_id, id",
        (nodeid, *ids),
    )
    for session_id, outcome in rows:
        cells[columns[session_id]] = letters.get(outcome, "e")
    return "".join(cells)


def flaky_rows(conn: sqlite3.Connection, columns: Columns, letters: dict[str, str]) -> Json:
    """Tests that passed on a rerun, or both passed and failed on one revision, in the history.

    Returns ``{"rows": [{"nodeid", "reruns", "revisions", "strip"}], "more": N}``: ``reruns``
    counts sessions where a rerun passed, ``revisions`` the revisions (short) with both outcomes.
    """
    ids = list(columns)
    marks = _marks(ids)
    reruns: dict[str, int] = dict(
        conn.execute(
            "SELECT nodeid, COUNT(DISTINCT session_id) FROM results"
            f" WHERE session_id IN ({marks}) AND final = 1 AND attempt > 1"
            " AND outcome IN ('passed', 'xpassed') GROUP BY nodeid",
            ids,
        ).fetchall()
    )
    revisions: dict[str, list[str]] = defaultdict(list)
    rows = conn.execute(
        "SELECT r.nodeid, s.revision FROM results r JOIN sessions s ON s.id = r.session_id"
        f" WHERE r.session_id IN ({marks}) AND s.revision IS NOT NULL AND s.revision != ''"
        " GROUP BY r.nodeid, s.revision"
        " HAVING SUM(r.outcome IN ('passed', 'xpassed')) > 0"
        " AND SUM(r.outcome IN ('failed', 'error')) > 0",
        ids,
    )
    for nodeid, revision in rows:
        revisions[nodeid].append(revision[:8])
    names = sorted(set(reruns) | set(revisions),
                   key=lambda n: (-(reruns.get(n, 0) + len(revisions.get(n, ()))), n))  # fmt: skip
    shown = [
        {
            "nodeid": nodeid,
            "reruns": reruns.get(nodeid, 0),
            "revisions": revisions.get(nodeid, []),
            "strip": _strip_of(conn, columns, nodeid, letters),
        }
        for nodeid in names[:FLAKY_LIMIT]
    ]
    return {"rows": shown, "more": max(0, len(names) - FLAKY_LIMIT)}


def slow_rows(conn: sqlite3.Connection, columns: Columns, reported: list[int]) -> list[Json]:
    """The slowest tests of the reported sessions (each test's newest final attempt there),
    each with its duration in every history column."""
    if len(reported) == 1:  # one session: no window to compute (the common, cheap case)
        sql = "SELECT nodeid, duration FROM results WHERE session_id IN (?) AND final = 1"
    else:  # a test run by two sessions of one run (a re-run job) counts with its newest
        sql = (
            "SELECT nodeid, duration FROM (SELECT nodeid, duration, ROW_NUMBER() OVER"
            " (PARTITION BY nodeid ORDER BY session_id DESC, id DESC) AS newest FROM results"
            f" WHERE session_id IN ({_marks(reported)}) AND final = 1) WHERE newest = 1"
        )
    top = conn.execute(f"{sql} ORDER BY duration DESC, nodeid LIMIT ?",
                       (*reported, SLOW_TOP)).fetchall()  # fmt: skip
    ids = list(columns)
    out = []
    for nodeid, duration in top:
        trend: list[float | None] = [None] * _width(columns)
        rows = conn.execute(
            f"SELECT session_id, duration FROM results WHERE nodeid = ? AND final = 1"
            f" AND session_id IN ({_marks(ids)}) ORDER BY session_id, id",
            (nodeid, *ids),
        )
        for sid, value in rows:
            trend[columns[sid]] = round(float(value), 4)
        out.append({"nodeid": nodeid, "duration": round(float(duration), 4), "trend": trend})
    return out
