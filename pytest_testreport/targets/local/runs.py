"""Logical runs: the local sessions that share a CI run id (``ci.run_id``), read as one.

The shards of one CI run (merged with ``merge``, or imported with ``import --run-id``) are
separate sessions; ``list`` shows them as one row and ``show``/``failed``/``html`` accept
``run:<run id>`` for all of them together. A session without a run id is a run of its own.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Optional

from ...model import COUNT_FIELDS
from ...reading import Json, NotFound, format_time, parse_time

RUN_PREFIX = "run:"
RUN_ID_SQL = "(CASE WHEN json_valid(ci) THEN NULLIF(json_extract(ci, '$.run_id'), '') END)"


def is_run_ref(ref: str) -> bool:
    return ref.startswith(RUN_PREFIX)


def _where(branch: Optional[str]) -> tuple[str, list[Any]]:
    return ("WHERE branch = ?", [branch]) if branch is not None else ("", [])


def list_rows(
    conn: sqlite3.Connection,
    branch: Optional[str],
    page: int,
    per_page: int,
    to_json: Callable[[sqlite3.Row], Json],
) -> list[Json]:
    """``list``: one row per logical run, newest first, paged by run."""
    where, params = _where(branch)
    groups = conn.execute(
        f"SELECT {RUN_ID_SQL} AS run_id, MAX(id) AS newest FROM sessions {where}"
        f" GROUP BY COALESCE('r' || {RUN_ID_SQL}, 's' || id) ORDER BY newest DESC"
        " LIMIT ? OFFSET ?",
        (*params, per_page, (max(page, 1) - 1) * per_page),
    ).fetchall()
    rows = []
    for group in groups:
        if group["run_id"] is None:
            row = conn.execute("SELECT * FROM sessions WHERE id = ?", (group["newest"],)).fetchone()
            rows.append({**to_json(row), "run": None, "sessions": [row["id"]]})
        else:
            rows.append(join([to_json(r) for r in members(conn, group["run_id"], branch)],
                             group["run_id"]))  # fmt: skip
    return rows


def members(conn: sqlite3.Connection, run_id: str, branch: Optional[str]) -> list[sqlite3.Row]:
    """The sessions of one CI run (on ``branch``), oldest first."""
    where, params = _where(branch)
    where += (" AND " if where else "WHERE ") + f"{RUN_ID_SQL} = ?"
    return conn.execute(f"SELECT * FROM sessions {where} ORDER BY id", (*params, run_id)).fetchall()


def resolve(
    conn: sqlite3.Connection, ref: str, branch: Optional[str], where: str
) -> list[sqlite3.Row]:
    """The member sessions ``run:<id>`` names; raises ``NotFound``."""
    found = members(conn, ref[len(RUN_PREFIX) :], branch)
    if not found:
        on_branch = f" on branch {branch!r}" if branch else ""
        raise NotFound(f"no sessions of CI run {ref!r}{on_branch} in {where}")
    return found


def _status(sessions: list[Json]) -> str:
    statuses = {s["status"] for s in sessions}
    for status in ("in_progress", "error"):
        if status in statuses:
            return status
    return "successful"


def join(sessions: list[Json], run_id: str) -> Json:
    """One session object for the sessions of a run (oldest first).

    ``id`` and ``uuid`` are the newest session's (a row id, as everywhere); counts are summed;
    the span runs from the first start to the last finish (open while any session is open).
    ``run`` is ``run:<id>``, what ``show`` takes; ``sessions`` lists the member ids.
    """
    newest = sessions[-1]
    starts = [t for t in (parse_time(s["started_at"]) for s in sessions) if t]
    ends = [parse_time(s["finished_at"]) for s in sessions]
    start = min(starts) if starts else None
    end = None if None in ends or not ends else max(e for e in ends if e)
    messages = [f"session {s['id']}: {s['error_message']}" for s in sessions if s["error_message"]]
    joined: Json = {
        **newest,
        "status": _status(sessions),
        "error_message": "; ".join(messages) or None,
        "started_at": format_time(start),
        "finished_at": format_time(end),
        "duration": (end - start).total_seconds() if start and end else None,
        **{c: sum(s[c] or 0 for s in sessions) for c in COUNT_FIELDS},
        "run": RUN_PREFIX + run_id,
        "sessions": [s["id"] for s in sessions],
    }
    return joined
