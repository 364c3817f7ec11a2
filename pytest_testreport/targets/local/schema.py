"""The local store's file: its schema and migrations, opening it, and writing rows in bulk.

Shared by the ``local`` target (target.py), its reader (reader.py) and ``store check`` /
``store repair`` (repair.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from ...engine.errors import UnusableError
from ...engine.private import create_file
from ...paths import STORE

DEFAULT_PATH = STORE

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


class StoreDamaged(StoreError, UnusableError):
    """The file opens but SQLite cannot read it: the message names it and how to repair it.

    During a run the engine then spools the rest (an ``UnusableError``); ``replay`` and the
    CLI print the message.
    """

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"the store at {path} is damaged ({detail}); "
            f"run: pytest-testreport store repair --store {path}"
        )


# SQLite's result codes for a file that is not (or no longer) a readable database.
_DAMAGE_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
_DAMAGE_TEXT = ("malformed", "not a database")


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` says the file is damaged (rather than locked, full, or read-only)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    if name is not None:
        return any(name == code or name.startswith(code + "_") for code in _DAMAGE_CODES)
    return any(text in str(exc) for text in _DAMAGE_TEXT)


def connect(
    path: Path, *, create: bool = False, target_version: int = SCHEMA_VERSION
) -> sqlite3.Connection:
    """Open the store, creating it or migrating it forward to ``target_version``."""
    if not create and not path.exists():
        raise StoreError(f"no store at {path}")
    create_file(path)  # 0600 (SQLite gives its -wal and -shm files the same mode)
    conn: Optional[sqlite3.Connection] = None
    try:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn, target_version)
    except BaseException as exc:
        if conn is not None:  # on this thread, now: a connection must not outlive its opener
            conn.close()
        if is_damage(exc):
            raise StoreDamaged(path, str(exc)) from exc
        if isinstance(exc, sqlite3.DatabaseError):
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        raise
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
        execute(conn, insert + ", ".join([one] * len(chunk)), [v for row in chunk for v in row])


def execute(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
    """``conn.execute``, storing text SQLite cannot encode (lone surrogates) made valid.

    Such text comes from test output, file names and environment variables. Binding fails
    before SQLite runs anything, so the statement is simply run again with the text fixed;
    checking every value up front would cost every batch for a rare case.
    """
    try:
        return conn.execute(sql, params)
    except UnicodeEncodeError:
        return conn.execute(sql, [valid_text(v) if isinstance(v, str) else v for v in params])


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (a pair becomes its character)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
