"""Telling a damaged store (``store check``) and salvaging what SQLite can still read of it into
a new one (``store repair``). The damaged file is kept, moved aside, never changed on purpose."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from .schema import StoreDamaged, StoreError, connect

# Parents before children: a row whose parent was lost is refused by the new store's foreign
# keys (nothing could reach it there) and counted as lost.
TABLES = ("sessions", "results", "steps", "metadata", "tags")
CHUNK = 256  # rows read per query while the table reads cleanly
MIN_ROWID, MAX_ROWID = -(2**63), 2**63 - 1
SIDE_FILES = ("", "-wal", "-shm")  # the WAL holds committed rows too: it moves with the file


def _open_as_is(path: Path) -> sqlite3.Connection:
    """A connection that neither migrates nor creates, and reads undecodable text anyway."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    return conn


def problem(path: Path) -> Optional[str]:
    """None for a healthy store, else SQLite's first complaint about it (one line)."""
    try:
        conn = _open_as_is(path)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        found = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    bad = [line for line in found if line != "ok"]
    if not bad:
        return None
    first = " ".join(bad[0].split())
    return first + (f" (and {len(bad) - 1} more problems)" if len(bad) > 1 else "")


def health(path: Path) -> str:
    """One line about a healthy store; raises ``StoreDamaged`` (with the way out) otherwise."""
    found = problem(path)
    if found is not None:
        raise StoreDamaged(path, found)
    conn = _open_as_is(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        counts = [_count(conn, table) for table in ("sessions", "results")]
    finally:
        conn.close()
    return (
        f"the store at {path} is healthy (schema version {version}, "
        f"{counts[0]} sessions, {counts[1]} results)"
    )


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # an empty file has no tables yet
        return 0


@dataclass
class Salvage:
    """What ``repair`` made of one table."""

    table: str
    copied: int = 0
    lost: int = 0  # rows known to have existed (by their ids) that could not be read or kept
    lost_after: Optional[int] = None  # the scan stopped at damage: rows after this id are gone
    missing: bool = False  # the table could not be found at all


@dataclass
class Repair:
    path: Path
    reason: str
    moved_to: Path
    tables: list[Salvage]


def repair(path: Path, now: Optional[datetime] = None) -> Optional[Repair]:
    """Move a damaged store aside and copy what can be read into a new one; None if healthy."""
    reason = problem(path)
    if reason is None:
        return None
    moved_to = _move_aside(path, now or datetime.now(timezone.utc))
    new = connect(path, create=True)
    try:
        old = _open_as_is(moved_to)
    except sqlite3.Error:  # nothing readable: the new store stays empty
        new.close()
        return Repair(path, reason, moved_to, [Salvage(t, missing=True) for t in TABLES])
    try:
        new.execute("BEGIN")
        tables = [_copy_table(old, new, table) for table in TABLES]
        new.execute("COMMIT")
    finally:
        old.close()
        new.close()
    return Repair(path, reason, moved_to, tables)


def _move_aside(path: Path, now: datetime) -> Path:
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while any(Path(f"{target}{side}").exists() for side in SIDE_FILES):
        number += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    try:
        for side in SIDE_FILES:
            if Path(f"{path}{side}").exists():
                os.replace(f"{path}{side}", f"{target}{side}")
    except OSError as exc:
        raise StoreError(f"cannot move the damaged store {path} aside: {exc}") from exc
    return target


def _copy_table(old: sqlite3.Connection, new: sqlite3.Connection, table: str) -> Salvage:
    salvage = Salvage(table)
    wanted = [row[1] for row in new.execute(f"PRAGMA table_info({table})")]
    try:
        have = {d[0] for d in old.execute(f"SELECT * FROM {table} LIMIT 0").description}
    except sqlite3.DatabaseError:  # an older schema without it, or a lost schema page
        salvage.missing = True
        return salvage
    columns = [c for c in wanted if c in have]
    insert = (
        f"INSERT INTO {table} (rowid, {', '.join(columns)}) "
        f"VALUES (?, {', '.join('?' * len(columns))})"
    )
    for row in _readable_rows(old, table, columns, salvage):
        try:
            new.execute(insert, row)
            salvage.copied += 1
        except sqlite3.Error:  # garbage values, or a parent that was lost
            salvage.lost += 1
    if salvage.lost_after is not None:
        salvage.lost += _known_beyond(old, table, salvage.lost_after)
    return salvage


def _readable_rows(
    old: sqlite3.Connection, table: str, columns: list[str], salvage: Salvage
) -> Iterator[tuple[object, ...]]:
    """Every row SQLite can read, in rowid order, stepping over damaged stretches."""
    select = f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid >= ? ORDER BY rowid"
    start, last = MIN_ROWID, 0  # ids start at 1
    skipped = False
    while True:
        rows = _read(old, f"{select} LIMIT {CHUNK}", start)
        if rows is None:  # damage somewhere in this chunk: go row by row up to it
            rows = _read(old, f"{select} LIMIT 1", start)
        if rows is None:
            resume = _past_damage(old, f"{select} LIMIT 1", start)
            if resume is None:
                salvage.lost_after = last
                return
            start, skipped = resume, True
            continue
        if not rows:
            return
        if skipped:  # ids passed over: at most that many rows (ids of this store are dense)
            salvage.lost += max(0, int(rows[0][0]) - last - 1)  # type: ignore[call-overload]
            skipped = False
        yield from rows
        last = int(rows[-1][0])  # type: ignore[call-overload]
        start = last + 1


def _read(old: sqlite3.Connection, sql: str, start: int) -> Optional[list[tuple[object, ...]]]:
    try:
        return old.execute(sql, (start,)).fetchall()
    except sqlite3.DatabaseError:
        return None
    except OverflowError:  # past the largest rowid
        return []


def _past_damage(old: sqlite3.Connection, one: str, start: int) -> Optional[int]:
    """The smallest rowid from which the table reads again (with a row to read), or None.

    A damaged page holds a contiguous range of rowids: probe forward in doubling steps until a
    read succeeds, then halve the gap back to where the damage ends.
    """
    failed, step = start, 1
    while _read(old, one, start + step) is None:
        failed, step = start + step, step * 2
        if start + step > MAX_ROWID:
            return None
    good = start + step
    while good - failed > 1:
        middle = (good + failed) // 2
        if _read(old, one, middle) is None:
            failed = middle
        else:
            good = middle
    # Readable again, but with nothing left to read: the damage took the end of the table.
    return good if _read(old, one, good) else None


def _known_beyond(old: sqlite3.Connection, table: str, last: int) -> int:
    """Rows after ``last`` that existed, when SQLite recorded the largest id (AUTOINCREMENT)."""
    try:
        row = old.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    except sqlite3.DatabaseError:
        return 0
    return max(0, int(row[0]) - last) if row else 0
