"""Each test's recent duration, for sharding: from the local store or a durations file.

The store gives the median of a test's last K passing attempts on the branch, falling back
to any branch. The file is the one pytest-split writes: a JSON object ``{nodeid: seconds}``
(older versions wrote a list of ``[nodeid, seconds]`` pairs; both are read).
"""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from collections.abc import Mapping
from itertools import groupby
from pathlib import Path
from typing import Any, Optional

from .engine.private import make_dirs

DEFAULT_LAST = 10

# The newest ``last`` passing attempts of each test (window functions: SQLite >= 3.25).
_RECENT_PASSES = """
SELECT nodeid, duration FROM (
    SELECT r.nodeid AS nodeid, r.duration AS duration,
           ROW_NUMBER() OVER (PARTITION BY r.nodeid ORDER BY r.session_id DESC, r.id DESC) AS n
    FROM results r JOIN sessions s ON s.id = r.session_id
    WHERE r.outcome = 'passed' AND r.kind = 'test' {where}
) WHERE n <= ? ORDER BY nodeid
"""


class DurationsError(Exception):
    """A durations file that cannot be read or does not have the expected shape."""


def from_store(conn: sqlite3.Connection, branch: Optional[str], last: int,
               exclude_run: Optional[str] = None) -> dict[str, float]:  # fmt: skip
    """Median of each test's last ``last`` passing attempts: on ``branch``, else on any branch.

    Sessions of the CI run ``exclude_run`` are left out: a shard that finished early and
    recorded into a shared store must not change the plan of a shard that starts later.
    """
    found = _medians(conn, None, last, exclude_run)
    if branch is not None:
        found.update(_medians(conn, branch, last, exclude_run))  # the branch's own wins
    return dict(sorted(found.items()))


def _medians(conn: sqlite3.Connection, branch: Optional[str], last: int,
             exclude_run: Optional[str]) -> dict[str, float]:  # fmt: skip
    where, params = ("AND s.branch = ?", [branch]) if branch is not None else ("", [])
    if exclude_run is not None:
        where += " AND coalesce(json_extract(s.ci, '$.run_id'), '') != ?"
        params.append(exclude_run)
    rows = conn.execute(_RECENT_PASSES.format(where=where), (*params, last))
    return {
        nodeid: float(statistics.median(r[1] for r in group))
        for nodeid, group in groupby(rows, key=lambda r: r[0])
    }


def store_durations(path: Path, branch: Optional[str], last: int,
                    exclude_run: Optional[str] = None) -> dict[str, float]:  # fmt: skip
    """``from_store`` on the store at ``path`` (never created here)."""
    from .targets.local.target import connect

    conn = connect(path, create=False)
    try:
        return from_store(conn, branch, last, exclude_run)
    finally:
        conn.close()


def parse_durations(data: Any, where: str) -> dict[str, float]:
    """pytest-split's shapes: ``{nodeid: seconds}`` or ``[[nodeid, seconds], ...]``."""
    if isinstance(data, list):
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in data):
            raise DurationsError(f"{where}: a list must hold [nodeid, seconds] pairs")
        pairs: list[Any] = [tuple(p) for p in data]
    elif isinstance(data, Mapping):
        pairs = list(data.items())
    else:
        raise DurationsError(
            f"{where}: expected a JSON object {{nodeid: seconds}} (or a list of "
            f"[nodeid, seconds] pairs), got {type(data).__name__}"
        )
    out: dict[str, float] = {}
    for nodeid, seconds in pairs:
        if not isinstance(nodeid, str) or not nodeid:
            raise DurationsError(f"{where}: node ids must be non-empty strings, got {nodeid!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise DurationsError(f"{where}: {nodeid}: seconds must be a number, got {seconds!r}")
        if not math.isfinite(seconds) or seconds < 0:
            raise DurationsError(f"{where}: {nodeid}: seconds must be >= 0, got {seconds!r}")
        out[nodeid] = float(seconds)
    return out


def read_durations(path: Path) -> dict[str, float]:
    """A durations file; a clear ``DurationsError`` when it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DurationsError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DurationsError(f"{path} is not JSON: {exc}") from None
    return parse_durations(data, str(path))


def write_durations(path: Path, durations: Mapping[str, float]) -> None:
    """Write the file pytest-split reads, atomically (a reader never sees half of it)."""
    text = json.dumps(dict(sorted(durations.items())), indent=2) + "\n"
    make_dirs(path.parent)  # folders the plugin makes are 0700, as everywhere
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
