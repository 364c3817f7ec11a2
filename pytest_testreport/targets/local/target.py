"""The ``local`` target: an embedded SQLite store that keeps run history, no account needed.

The store's file (schema, migrations, opening it) is schema.py; ``store check`` and
``store repair`` are cli.py and repair.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ...engine.errors import RejectedError
from ...engine.target import Target
from ...model import COUNT_FIELDS, Session, TestResult
from ...timefmt import iso
from .schema import (  # noqa: F401 - re-exported: the store's names, as before the split
    DEFAULT_PATH,
    MIGRATIONS,
    SCHEMA_VERSION,
    StoreDamaged,
    StoreError,
    connect,
    execute,
    insert_rows,
    is_damage,
    migrate,
)

if TYPE_CHECKING:
    from ...config import Settings

_INSERT_RESULT = (
    "INSERT INTO results (session_id, uuid, nodeid, path, line, scopes, name, kind, outcome,"
    " reason, failure_message, failure_phase, failure_traceback, durations, duration,"
    " started_at, finished_at, stdout, stderr, log, attempt, final, worker) VALUES "
)
# SQLite refusing a value of one row: the engine splits the batch to spool only that row.
_ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError, OverflowError)


class RowRefused(RejectedError):
    """The store refused a value of some row. A 422, because that is what tells the engine to
    split the batch until the bad row is alone (and spooled), as for a service's 422."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(422, "row refused by the store", f"{type(exc).__name__}: {exc}")
        self.args = (f"the store refused a row: {type(exc).__name__}: {exc}",)


def _batch_counts(results: Iterable[TestResult]) -> Session:
    counts = Session()
    for result in results:
        counts.count(result)
    return counts


class LocalTarget(Target):
    """Writes sessions and results to the SQLite store in batched transactions.

    The connection belongs to the thread that opened it (the sender's): SQLite refuses any
    other. ``release`` from another thread (an abandoned sender) leaves it to that thread.
    """

    name = "local"
    batch_size = 500
    batch_age = 0.5
    spools_backlog = False  # bounded by the disk, not by a service

    def __init__(self, path: Path) -> None:
        self.path = path
        self.session_id: Optional[int] = None
        self._conn: Optional[sqlite3.Connection] = None
        self._owner: Optional[int] = None  # the thread that opened ``_conn``
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalTarget:
        return cls(settings.local_path)

    def state(self) -> dict[str, Any]:
        return {"session_id": self.session_id}

    def resume(self, state: dict[str, Any], session: Session) -> None:
        self._connect()
        self.session_id = state["session_id"]

    def open_session(self, session: Session) -> None:
        conn = self._connect()
        with self._writing():
            cursor = execute(
                conn,
                "INSERT INTO sessions (uuid, started_at, status, branch, revision, ci, rootdir,"
                " args, hostname, python_version, pytest_version, plugin_version)"
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
        with self._writing(), self._transaction(conn):
            # A replayed batch may hold rows stored before: skip them, and count only new ones.
            known = self._stored(conn, [r.uuid for r in results])
            fresh = list({r.uuid: r for r in results if r.uuid not in known}.values())
            insert_rows(conn, _INSERT_RESULT, [self._row(r) for r in fresh])
            self._insert_children(conn, [r for r in fresh if r.steps or r.metadata or r.tags])
            counts = _batch_counts(fresh)
            conn.execute(
                "UPDATE sessions SET "
                + ", ".join(f"{c} = {c} + ?" for c in COUNT_FIELDS)
                + " WHERE id = ?",
                (*(getattr(counts, c) for c in COUNT_FIELDS), self.session_id),
            )

    def close_session(self, session: Session) -> None:
        conn = self._require_conn()
        with self._writing():
            execute(
                conn,
                "UPDATE sessions SET finished_at = ?, status = ?, error_message = ?, "
                + ", ".join(f"{c} = ?" for c in COUNT_FIELDS)
                + " WHERE id = ?",
                (
                    iso(session.finished_at),
                    session.status.value,
                    session.error_message,
                    *(getattr(session, c) for c in COUNT_FIELDS),
                    self.session_id,
                ),
            )
        self.release()

    def release(self) -> None:
        """Close the connection, on its own thread; from any other, leave it to that thread."""
        with self._lock:
            conn = self._conn
            if conn is None or threading.get_ident() != self._owner:
                return
            self._conn = None
        conn.close()

    # -- the connection -----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        self.release()  # a resumed or reopened target starts afresh
        conn = connect(self.path, create=True)
        with self._lock:
            self._conn, self._owner = conn, threading.get_ident()
        return conn

    def _require_conn(self) -> sqlite3.Connection:
        with self._lock:
            conn, owner = self._conn, self._owner
        if conn is None:
            raise StoreError("the local session was not opened")
        if owner != threading.get_ident():
            raise StoreError("the store's connection belongs to another thread")
        return conn

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """SQLite's errors as the engine acts on them: damage stops the target, a refused
        value isolates its row; anything else (locked, disk full) is spooled and retried."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise StoreDamaged(self.path, str(exc)) from exc
            if isinstance(exc, _ROW_ERRORS):
                raise RowRefused(exc) from exc
            raise
        except OverflowError as exc:
            raise RowRefused(exc) from exc

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (e.g. on a damaged page): nothing to undo then.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

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
