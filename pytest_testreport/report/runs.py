"""Logical runs in the HTML report: the sessions (shards) that share a CI run id, as one.

``pytest-testreport html run:<id>`` reports such a run: its history is one entry per logical
run (the sessions of one run id summed, as ``list`` joins them; see targets/local/runs.py),
and its shards are listed with their own counts. A session without a run id is a run of its own.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Optional

from ..reading import Json, parse_time
from ..targets.local.runs import RUN_ID_SQL, RUN_PREFIX, join


def run_history(conn: sqlite3.Connection, run: Json, last: int,
                branch: Optional[str]) -> list[Json]:  # fmt: skip
    """The reported run and up to ``last`` logical runs before it (on ``branch``), oldest first.

    Runs are ordered by their newest session, as ``list`` orders them.
    """
    where, params = ("WHERE branch = ?", [branch]) if branch is not None else ("", [])
    groups = conn.execute(
        f"SELECT {RUN_ID_SQL} AS run_id, GROUP_CONCAT(id) AS ids FROM sessions {where}"
        f" GROUP BY COALESCE('r' || {RUN_ID_SQL}, 's' || id) HAVING MAX(id) <= ?"
        " ORDER BY MAX(id) DESC LIMIT ?",
        (*params, max(run["sessions"]), last + 1),
    ).fetchall()
    return [_entry(conn, g["run_id"], sorted(int(i) for i in g["ids"].split(",")))
            for g in reversed(groups)]  # fmt: skip


def _entry(conn: sqlite3.Connection, run_id: Optional[str], ids: list[int]) -> Json:
    """One history entry (the shape of a session's, plus ``run`` and ``sessions``)."""
    rows = conn.execute(
        f"SELECT * FROM sessions WHERE id IN ({', '.join('?' * len(ids))}) ORDER BY id", ids
    ).fetchall()
    sessions = [dict(row) for row in rows]
    joined = join(sessions, run_id) if run_id is not None else _single(sessions[0])
    newest = sessions[-1]
    return {
        "id": newest["id"],
        "run": joined["run"],
        "sessions": ids,
        "status": joined["status"],
        "branch": newest["branch"],
        "revision": newest["revision"],
        "started_at": joined["started_at"],
        "duration": joined["duration"],
        "passed": joined["passed_count"],
        "failed": joined["failed_count"],
        "error": joined["error_count"],
        "skipped": joined["skipped_count"],
    }


def _single(session: Json) -> Json:
    started, finished = parse_time(session["started_at"]), parse_time(session["finished_at"])
    duration = (finished - started).total_seconds() if started and finished else None
    return {**session, "run": None, "duration": duration}


def shards(conn: sqlite3.Connection, ids: list[int]) -> list[Json]:
    """The run's sessions with their own status and counts, oldest first."""
    return [{k: v for k, v in _entry(conn, None, [i]).items() if k != "run"} for i in ids]


def run_ref_of(store: Path, uuid: str) -> str:
    """What ``--testreport-html`` reports for session ``uuid``: ``run:<id>`` when the store holds
    other sessions of its CI run (the shards were merged in, or ran against one store), else
    the session itself."""
    conn = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute(f"SELECT {RUN_ID_SQL} FROM sessions WHERE uuid = ?", (uuid,)).fetchone()
        run_id = row[0] if row else None
        if run_id is None:
            return uuid
        (members,) = conn.execute(
            f"SELECT COUNT(*) FROM sessions WHERE {RUN_ID_SQL} = ?", (run_id,)
        ).fetchone()
    finally:
        conn.close()
    return RUN_PREFIX + str(run_id) if members > 1 else uuid
