"""The ``local`` target: an embedded SQLite store that keeps run history, no account needed."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..engine.private import create_file
from ..engine.target import Target
from ..model import Session, TestResult

if TYPE_CHECKING:
    from ..config import Settings

DEFAULT_PATH = Path(".testreport") / "results.sqlite"

# Each entry moves the schema one version forward; never edit a released entry, append one.
MIGRATIONS: list[str] = [
    # 1: sessions, results (one row per attempt), steps, metadata.
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,
        error_message TEXT,
        branch TEXT,
        revision TEXT,
        ci TEXT NOT NULL DEFAULT '{}',
        rootdir TEXT,
        args TEXT NOT NULL DEFAULT '[]',
        hostname TEXT,
        python_version TEXT,
        pytest_version TEXT,
        plugin_version TEXT,
        tests_count INTEGER NOT NULL DEFAULT 0,
        passed_count INTEGER NOT NULL DEFAULT 0,
        failed_count INTEGER NOT NULL DEFAULT 0,
        skipped_count INTEGER NOT NULL DEFAULT 0,
        error_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        uuid TEXT NOT NULL UNIQUE,
        nodeid TEXT NOT NULL,
        path TEXT NOT NULL,
        line INTEGER,
        scopes TEXT NOT NULL DEFAULT '[]',
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT,
        failure_message TEXT,
        failure_phase TEXT,
        failure_traceback TEXT,
        durations TEXT NOT NULL DEFAULT '{}',
        duration REAL NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        stdout TEXT NOT NULL DEFAULT '',
        stderr TEXT NOT NULL DEFAULT '',
        log TEXT NOT NULL DEFAULT '',
        attempt INTEGER NOT NULL DEFAULT 1,
        final INTEGER NOT NULL DEFAULT 1,
        worker TEXT
    );
    CREATE INDEX results_session ON results(session_id, id);
    CREATE TABLE steps (
        result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        uuid TEXT NOT NULL,
        parent_uuid TEXT,
        keyword TEXT,
        text TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        result TEXT NOT NULL,
        failure TEXT
    );
    CREATE INDEX steps_result ON steps(result_id, position);
    CREATE TABLE metadata (
        result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL
    );
    CREATE INDEX metadata_result ON metadata(result_id, position);
    """,
    # 2: tags (markers) per result; indexes for the history queries (flaky, slow, by branch).
    """
    CREATE TABLE tags (
        result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
        tag TEXT NOT NULL
    );
    CREATE INDEX tags_result ON tags(result_id);
    CREATE INDEX results_nodeid ON results(nodeid, session_id);
    CREATE INDEX sessions_branch ON sessions(branch, id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The store cannot be opened or is from a newer plugin."""


def iso(value: Any) -> Optional[str]:
    """UTC ISO 8601 with ``Z``, as everywhere in our JSON."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def connect(
    path: Path, *, create: bool = False, target_version: int = SCHEMA_VERSION
) -> sqlite3.Connection:
    """Open the store, creating it or migrating it forward to ``target_version``."""
    if not create and not path.exists():
        raise StoreError(f"no store at {path}")
    create_file(path)  # 0600 (SQLite gives its -wal and -shm files the same mode)
    try:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn, target_version)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the store at {path}: {exc}") from exc
    return conn


def migrate(conn: sqlite3.Connection, target_version: int = SCHEMA_VERSION) -> None:
    """Apply the migrations a store is missing, each in its own transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store has schema version {version}, newer than this plugin knows "
            f"({SCHEMA_VERSION}); upgrade pytest-testreport"
        )
    for number in range(version, target_version):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] > number:
                conn.execute("ROLLBACK")
                continue
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


_INSERT_RESULT = (
    "INSERT INTO results (session_id, uuid, nodeid, path, line, scopes, name, kind, outcome,"
    " reason, failure_message, failure_phase, failure_traceback, durations, duration,"
    " started_at, finished_at, stdout, stderr, log, attempt, final, worker) VALUES "
)
# Bound variables one statement may hold (SQLite raised the limit from 999 in 3.32).
_MAX_VARIABLES = 32_000 if sqlite3.sqlite_version_info >= (3, 32) else 999


def insert_rows(conn: sqlite3.Connection, insert: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert many rows with few statements.

    ``executemany`` steps SQLite once per row and releases the GIL each time; while the
    test thread is busy, taking the GIL back can wait a whole switch interval (5 ms) per row.
    One multi-row statement per chunk releases it a handful of times per batch instead.
    """
    if not rows:
        return
    width = len(rows[0])
    per_statement = max(1, _MAX_VARIABLES // width)
    one = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        conn.execute(insert + ", ".join([one] * len(chunk)), [v for row in chunk for v in row])


_COUNT_COLUMNS = ("tests_count", "passed_count", "failed_count", "skipped_count", "error_count")


def _batch_counts(results: Iterable[TestResult]) -> Session:
    counts = Session()
    for result in results:
        counts.count(result)
    return counts


class LocalTarget(Target):
    """Writes sessions and results to the SQLite store in batched transactions."""

    name = "local"
    batch_size = 500
    batch_age = 0.5

    def __init__(self, path: Path) -> None:
        self.path = path
        self.session_id: Optional[int] = None
        self._conn: Optional[sqlite3.Connection] = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalTarget:
        return cls(settings.local_path)

    def state(self) -> dict[str, Any]:
        return {"session_id": self.session_id}

    def resume(self, state: dict[str, Any], session: Session) -> None:
        self._conn = connect(self.path, create=True)
        self.session_id = state["session_id"]

    def open_session(self, session: Session) -> None:
        self._conn = connect(self.path, create=True)
        cursor = self._conn.execute(
            "INSERT INTO sessions (uuid, started_at, status, branch, revision, ci, rootdir, args,"
            " hostname, python_version, pytest_version, plugin_version)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.uuid,
                iso(session.started_at),
                session.status.value,
                session.ci.branch,
                session.ci.revision,
                json.dumps(dataclasses.asdict(session.ci)),
                session.rootdir,
                json.dumps(session.args),
                session.hostname,
                session.python_version,
                session.pytest_version,
                session.plugin_version,
            ),
        )
        self.session_id = cursor.lastrowid

    def send_batch(
        self, session: Session, results: list[TestResult], progress: dict[str, Any]
    ) -> None:
        conn = self._require_conn()
        conn.execute("BEGIN")
        try:
            # A replayed batch may hold rows stored before: skip them, and count only new ones.
            known = self._stored(conn, [r.uuid for r in results])
            fresh = list({r.uuid: r for r in results if r.uuid not in known}.values())
            insert_rows(conn, _INSERT_RESULT, [self._row(r) for r in fresh])
            self._insert_children(conn, [r for r in fresh if r.steps or r.metadata or r.tags])
            counts = _batch_counts(fresh)
            conn.execute(
                "UPDATE sessions SET "
                + ", ".join(f"{c} = {c} + ?" for c in _COUNT_COLUMNS)
                + " WHERE id = ?",
                (*(getattr(counts, c) for c in _COUNT_COLUMNS), self.session_id),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close_session(self, session: Session) -> None:
        conn = self._require_conn()
        conn.execute(
            "UPDATE sessions SET finished_at = ?, status = ?, error_message = ?, "
            + ", ".join(f"{c} = ?" for c in _COUNT_COLUMNS)
            + " WHERE id = ?",
            (
                iso(session.finished_at),
                session.status.value,
                session.error_message,
                *(getattr(session, c) for c in _COUNT_COLUMNS),
                self.session_id,
            ),
        )
        self.release()

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def summary(self, session: Session) -> str:
        return (
            f"session {self.session_id} — {session.summary()} — "
            f"pytest-testreport show {self.session_id}"
        )

    def _require_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the local session was not opened")
        return self._conn

    @staticmethod
    def _stored(conn: sqlite3.Connection, uuids: list[str]) -> set[str]:
        marks = ",".join("?" * len(uuids))
        rows = conn.execute(f"SELECT uuid FROM results WHERE uuid IN ({marks})", uuids)
        return {row[0] for row in rows}

    def _row(self, result: TestResult) -> tuple[Any, ...]:
        failure = result.failure
        return (
            self.session_id,
            result.uuid,
            result.nodeid,
            result.path,
            result.line,
            json.dumps(result.scopes),
            result.name,
            result.kind.value,
            result.outcome.value,
            result.reason,
            failure.message if failure else None,
            failure.phase if failure else None,
            "\n".join(failure.traceback) if failure else None,
            json.dumps(result.durations),
            result.duration,
            iso(result.started_at),
            iso(result.finished_at),
            result.stdout,
            result.stderr,
            result.log,
            result.attempt,
            int(result.final),
            result.worker,
        )

    @staticmethod
    def _insert_children(conn: sqlite3.Connection, results: list[TestResult]) -> None:
        """Steps, metadata and tags of the results that have any (most have none)."""
        if not results:
            return
        marks = ",".join("?" * len(results))
        ids = dict(
            conn.execute(
                f"SELECT uuid, id FROM results WHERE uuid IN ({marks})", [r.uuid for r in results]
            )
        )
        steps, metadata, tags = [], [], []
        for result in results:
            rid = ids[result.uuid]
            ordered = sorted(result.steps, key=lambda s: s.started_at)
            steps += [
                (rid, i, s.id, s.parent_id, s.keyword, s.text, iso(s.started_at),
                 iso(s.finished_at), s.result, s.failure)
                for i, s in enumerate(ordered)
            ]  # fmt: skip
            metadata += [(rid, i, k, v) for i, (k, v) in enumerate(result.metadata)]
            tags += [(rid, tag) for tag in result.tags]
        insert_rows(
            conn,
            "INSERT INTO steps (result_id, position, uuid, parent_uuid, keyword, text,"
            " started_at, finished_at, result, failure) VALUES ",
            steps,
        )
        insert_rows(
            conn, "INSERT INTO metadata (result_id, position, key, value) VALUES ", metadata
        )
        insert_rows(conn, "INSERT INTO tags (result_id, tag) VALUES ", tags)
