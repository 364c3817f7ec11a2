"""Where ``--testreport-quarantine`` finds its node ids: the local store, Buildkite, or a file.

Each reader returns the node ids, or raises ``SourceUnreadable`` for a source that cannot be
read right now (the run then goes on with nothing quarantined); a source that can never work
as configured (a Buildkite token without the scope, a suite without the muted list) is a
``pytest.UsageError`` at start-up.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from .config import Settings, usage_error
from .reading import format_time

BUILDKITE_DEADLINE = 20.0  # seconds pytest's start-up may spend asking Buildkite

# Tests whose final attempts both passed and failed on one revision, or that passed on a
# rerun, in the given sessions.
_FLAKY_SQL = """
SELECT r.nodeid FROM results r JOIN sessions s ON s.id = r.session_id
WHERE r.session_id IN ({recent}) AND r.kind = 'test' AND r.final = 1
      AND s.revision IS NOT NULL AND s.revision != ''
GROUP BY r.nodeid, s.revision
HAVING SUM(r.outcome = 'passed') > 0 AND SUM(r.outcome IN ('failed', 'error')) > 0
UNION
SELECT r.nodeid FROM results r
WHERE r.session_id IN ({recent}) AND r.kind = 'test' AND r.final = 1
      AND r.outcome = 'passed' AND r.attempt > 1
"""


class SourceUnreadable(Exception):
    """The source could not be read now; nothing is quarantined."""


def flaky_in_store(conn: sqlite3.Connection, sessions: int, days: int,
                   now: Optional[datetime] = None) -> list[str]:  # fmt: skip
    """Node ids the store shows as flaky in its newest ``sessions`` sessions (``days`` back)."""
    where, params = "", []
    if days:
        since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
        where, params = "WHERE started_at >= ?", [format_time(since)]
    recent = f"SELECT id FROM sessions {where} ORDER BY id DESC LIMIT ?"
    args = [*params, sessions]
    rows = conn.execute(_FLAKY_SQL.format(recent=recent), [*args, *args])
    return sorted({row[0] for row in rows})


def from_local(settings: Settings) -> tuple[list[str], str]:
    from .targets.local.target import connect

    path = settings.local_path
    if not path.exists():
        raise SourceUnreadable(f"no local store at {path}")
    sessions, days = settings.quarantine_sessions, settings.quarantine_days
    try:
        conn = connect(path, create=False)
        try:
            nodeids = flaky_in_store(conn, sessions, days)
        finally:
            conn.close()
    except Exception as exc:  # a damaged store must not stop the tests: fail open
        raise SourceUnreadable(f"cannot read the store at {path}: {exc}") from None
    span = f"the last {sessions} sessions" + (f" within {days} days" if days else "")
    return nodeids, f"flaky in {span} of {path}"


def from_file(settings: Settings, value: str) -> tuple[list[str], str]:
    path = settings.path(value, Path(value))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceUnreadable(f"cannot read {path}: {exc}") from None
    nodeids = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()  # comments: whole lines, or after " #"
        if line and not line.startswith("#"):
            nodeids.append(line)
    return list(dict.fromkeys(nodeids)), f"listed in {path}"


def from_buildkite(settings: Settings) -> tuple[list[str], str]:
    """The suite's muted tests (``GET /suites/{suite}/tests/muted``, reference §2)."""
    from .engine.errors import DeliveryError, RejectedError
    from .engine.limits import Deadline
    from .targets.buildkite.answers import suite_test
    from .targets.buildkite.reader import BuildkiteReader

    class MutedReader(BuildkiteReader):
        def muted(self) -> list[str]:
            found = []
            for test in self._pages("tests/muted", suite_test):
                scope, name = test.scope or "", test.name or ""
                if name:  # our uploads send scope = the node id without its last part
                    found.append(f"{scope}::{name}" if scope else name)
            return found

    reader = MutedReader(settings)  # missing token, org or suite: a usage error
    where = f"Buildkite suite {quote(reader.org)}/{quote(reader.suite)}"
    try:
        deadline = Deadline()
        deadline.set(BUILDKITE_DEADLINE)
        reader.http.bind(deadline)
        nodeids = reader.muted()
    except RejectedError as exc:
        if exc.is_auth:
            raise usage_error(
                f"testreport: --testreport-quarantine=buildkite: {where} refused the muted-tests "
                f"list ({exc}); it needs BUILDKITE_API_TOKEN with the read_suites scope"
            ) from None
        if exc.status == 404:
            raise usage_error(
                f"testreport: --testreport-quarantine=buildkite: {where} has no muted-tests list "
                "(404): check TESTREPORT_BUILDKITE_ORG / TESTREPORT_BUILDKITE_SUITE, and that "
                "test states (quarantine) are enabled for the suite"
            ) from None
        raise SourceUnreadable(f"{where}: {exc}") from None
    except DeliveryError as exc:
        raise SourceUnreadable(f"cannot read {where}: {exc}") from None
    finally:
        reader.close()
    return sorted(set(nodeids)), f"muted in {where}"


def read_source(settings: Settings, source: str) -> tuple[list[str], str]:
    """(node ids, where they came from); raises ``SourceUnreadable`` or a usage error."""
    name = source.strip()
    if name.lower() == "local":
        return from_local(settings)
    if name.lower() == "buildkite":
        return from_buildkite(settings)
    return from_file(settings, name)
