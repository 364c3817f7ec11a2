"""``pytest-testreport merge``: the stores of several CI shards copied into one.

Every session is kept, with its results, steps, metadata and tags. A session is known by its
uuid and a result by its own, so merging again adds nothing; a session that was still
``in_progress`` in the output is replaced by a source's closed copy. Sources are opened
read-only, and the whole merge is one transaction: it lands completely or not at all.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .targets.local.target import SCHEMA_VERSION, StoreError, connect, insert_rows

_CHILDREN = ("steps", "metadata", "tags")  # tables keyed by result_id


@dataclass
class Merged:
    """What one source store gave: sessions added, and sessions the output already had."""

    store: str
    added: int = 0
    present: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"store": self.store, "added": self.added, "present": self.present}


def _open_source(path: Path) -> sqlite3.Connection:
    """A read-only connection to a source store of a schema this plugin can read."""
    if not path.is_file():
        raise StoreError(f"no store at {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read the store at {path}: {exc}") from exc
    if not 1 <= version <= SCHEMA_VERSION:
        conn.close()
        why = "newer than this plugin knows" if version else "not a pytest-testreport store"
        raise StoreError(f"cannot merge {path}: schema version {version}, {why}")
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


class _Copier:
    """Copies sessions from one source into the output, mapping row ids as it goes."""

    def __init__(self, source: sqlite3.Connection, output: sqlite3.Connection) -> None:
        self.source, self.output = source, output
        # Columns both stores have (an older source lacks later columns; they keep defaults).
        self.shared = {
            table: [c for c in _columns(output, table) if c in set(_columns(source, table))]
            for table in ("sessions", "results", *_CHILDREN)
        }

    def _insert(self, table: str, rows: list[tuple[Any, ...]], columns: list[str]) -> None:
        insert_rows(self.output, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ", rows)

    def copy_session(self, row: sqlite3.Row) -> None:
        columns = [c for c in self.shared["sessions"] if c != "id"]
        cursor = self.output.execute(
            f"INSERT INTO sessions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [row[c] for c in columns],
        )
        self._copy_results(row["id"], cursor.lastrowid)

    def _copy_results(self, old_session: int, new_session: Any) -> None:
        columns = [c for c in self.shared["results"] if c not in ("id", "session_id")]
        rows = self.source.execute(
            f"SELECT id, {', '.join(columns)} FROM results WHERE session_id = ? ORDER BY id",
            (old_session,),
        ).fetchall()
        known = {r[0] for r in self.output.execute(
            "SELECT uuid FROM results WHERE session_id = ?", (new_session,))}  # fmt: skip
        fresh = [r for r in rows if r["uuid"] not in known]
        self._insert("results", [(new_session, *(r[c] for c in columns)) for r in fresh],
                     ["session_id", *columns])  # fmt: skip
        new_ids = dict(self.output.execute(
            "SELECT uuid, id FROM results WHERE session_id = ?", (new_session,)))  # fmt: skip
        ids = {r["id"]: new_ids[r["uuid"]] for r in fresh}
        for table in _CHILDREN:
            self._copy_children(table, old_session, ids)

    def _copy_children(self, table: str, old_session: int, ids: dict[int, int]) -> None:
        columns = [c for c in self.shared[table] if c != "result_id"]
        if not ids or not self.shared[table]:
            return
        rows = self.source.execute(
            f"SELECT result_id, {', '.join(columns)} FROM {table} WHERE result_id IN"
            " (SELECT id FROM results WHERE session_id = ?) ORDER BY result_id, rowid",
            (old_session,),
        )
        copied = [(ids[r[0]], *tuple(r)[1:]) for r in rows if r[0] in ids]
        self._insert(table, copied, ["result_id", *columns])


def _copy(row: sqlite3.Row, copier: _Copier, merged: Merged) -> None:
    """Copy one session unless the output has it (closed, or as open as the source's copy)."""
    output = copier.output
    have = output.execute(
        "SELECT id, status FROM sessions WHERE uuid = ?", (row["uuid"],)
    ).fetchone()
    if have is not None and (have["status"] != "in_progress" or row["status"] == "in_progress"):
        merged.present += 1
        return
    if have is not None:  # the output caught this session still running: take it anew
        output.execute("DELETE FROM sessions WHERE id = ?", (have["id"],))
    copier.copy_session(row)
    merged.added += 1


def merge_stores(sources: list[Path], output_path: Path) -> list[Merged]:
    """Copy every session of ``sources`` into ``output_path`` (created when missing)."""
    target = output_path.resolve()
    for path in sources:
        if path.resolve() == target:
            raise StoreError(f"{path} is the output store; name it once, with -o")
    opened: list[sqlite3.Connection] = []
    output = None
    try:
        opened = [_open_source(path) for path in sources]
        output = connect(output_path, create=True)
        copiers = [_Copier(source, output) for source in opened]
        merged = [Merged(str(path)) for path in sources]
        # Oldest first across all sources, so the output's ids (and ``latest``) follow time.
        rows = sorted(
            ((row["started_at"] or "", i, row["id"], row) for i, source in enumerate(opened)
             for row in source.execute("SELECT * FROM sessions")),
            key=lambda item: item[:3],
        )  # fmt: skip
        output.execute("BEGIN IMMEDIATE")
        try:
            for _, i, _, row in rows:
                _copy(row, copiers[i], merged[i])
            output.execute("COMMIT")
        except BaseException:
            output.execute("ROLLBACK")
            raise
    finally:
        for conn in [*opened, *([output] if output is not None else [])]:
            conn.close()
    return merged
