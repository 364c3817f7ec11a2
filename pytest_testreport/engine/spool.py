"""The spool: what could not be delivered, kept on disk until ``replay`` delivers it.

One journal per target and session: ``<spool>/<target>-<session uuid>.jsonl``, append-only JSON
lines. Entries are never rewritten; delivering one appends an ``ack`` line, so a replay that
stops half-way can simply run again. A journal whose entries are all acknowledged is deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TextIO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; replay then trusts the user
    fcntl = None  # type: ignore[assignment]

from ..model import Session, TestResult
from .private import open_append
from .secrets import mask

SPOOL_VERSION = 1


class SpoolError(Exception):
    """A journal that cannot be read."""


class DamagedJournal(SpoolError):
    """A journal whose header cannot be read: nothing in it can be delivered."""


class Journal:
    """Appends entries for one target and session; the file appears with its first entry."""

    def __init__(self, directory: Path, target: str, session: Session) -> None:
        self.path = directory / f"{target}-{session.uuid}.jsonl"
        self.target = target
        self._session = session  # serialized only if anything is ever spooled
        self._state: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._file: Optional[TextIO] = None
        self._next_entry = 1

    @classmethod
    def reopen(cls, spooled: SpoolFile) -> Journal:
        """Append to an existing journal (for replay's acknowledgements)."""
        journal = cls(spooled.path.parent, spooled.target, spooled.session)
        journal.path = spooled.path
        journal._state = spooled.state
        journal._file = spooled.path.open("a", encoding="utf-8")
        journal._next_entry = spooled.next_entry
        return journal

    @property
    def exists(self) -> bool:
        return self._file is not None

    def set_state(self, state: dict[str, Any]) -> None:
        """Remember what replay needs to reach the open session (e.g. its remote id)."""
        with self._lock:
            self._state = dict(state)
            if self._file is not None:
                self._write({"kind": "state", "state": self._state})

    def add_open(self) -> int:
        return self._add({"kind": "open"})

    def add_results(self, results: list[TestResult], progress: dict[str, Any], error: str) -> int:
        return self._add(
            {
                "kind": "results",
                "results": [r.model_dump(mode="json") for r in results],
                "progress": progress,
                "error": mask(error),
            }
        )

    def add_close(self, session: Session) -> int:
        return self._add({"kind": "close", "session": session.model_dump(mode="json")})

    def ack(self, entry: int) -> None:
        with self._lock:
            self._write({"kind": "ack", "entry": entry})

    def progress(self, entry: int, progress: dict[str, Any]) -> None:
        with self._lock:
            self._write({"kind": "progress", "entry": entry, "progress": progress})

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None

    def _add(self, record: dict[str, Any]) -> int:
        with self._lock:
            if self._file is None:
                self._file = open_append(self.path)  # 0600, in folders made 0700
                if fcntl is not None:  # replay skips a journal a running pytest still writes
                    fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._write(
                    {
                        "kind": "header",
                        "version": SPOOL_VERSION,
                        "target": self.target,
                        "session": self._session.model_dump(mode="json"),
                        "state": self._state,
                    }
                )
            entry = self._next_entry
            self._next_entry += 1
            self._write({**record, "entry": entry})
            return entry

    def _write(self, record: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()


@dataclass
class SpooledEntry:
    entry: int
    kind: str
    data: dict[str, Any]
    progress: dict[str, Any] = field(default_factory=dict)
    _results: Optional[list[TestResult]] = field(default=None, repr=False)

    def results(self) -> list[TestResult]:
        if self._results is None:
            self._results = [TestResult.model_validate(r) for r in self.data.get("results", ())]
        return self._results

    def session(self) -> Session:
        return Session.model_validate(self.data["session"])

    def check(self) -> None:
        """Raise ``ValueError``/``KeyError``/``TypeError`` when the entry cannot be replayed."""
        if self.kind == "results":
            self.results()
        elif self.kind == "close":
            self.session()


@dataclass
class SpoolFile:
    """A journal as read back: its session, last known state and what is still unacknowledged.

    ``damaged`` lists the lines that could not be read (``line 4: cut off``); ``closes`` is
    True when a readable close entry exists (acknowledged or not).
    """

    path: Path
    target: str
    session: Session
    state: dict[str, Any]
    pending: list[SpooledEntry]
    next_entry: int
    damaged: list[str] = field(default_factory=list)
    closes: bool = False

    @property
    def pending_results(self) -> int:
        return sum(len(e.data.get("results", ())) for e in self.pending)

    def readable_results(self) -> list[TestResult]:
        """The results of every readable entry, delivered or not (to count a lost close)."""
        return [r for e in self.pending if e.kind == "results" for r in e.results()]


# A line cut off by a killed process that carries no result: replay loses nothing by it.
_HARMLESS_TORN = (b'{"kind":"ack"', b'{"kind":"progress"')


def _parse(number: int, raw: bytes, last: bool) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """One line as a record, or why it cannot be read (None, None: a harmless torn line)."""
    if not raw.endswith(b"\n") and last:
        if raw.startswith(_HARMLESS_TORN) or not raw.strip():
            return None, None
        return None, f"line {number}: cut off"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"line {number}: not UTF-8 (byte {exc.start + 1})"
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return None, f"line {number}: not JSON"
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return None, f"line {number}: not a journal record"
    return record, None


def read_journal(path: Path) -> SpoolFile:
    """Parse a journal, line by line: an unreadable line is listed in ``damaged`` and the rest
    is read on. Raises ``SpoolError`` only when the header cannot be read."""
    header: Optional[dict[str, Any]] = None
    state: dict[str, Any] = {}
    entries: dict[int, SpooledEntry] = {}
    acked: set[int] = set()
    damaged: list[str] = []
    closes = False
    lines = path.read_bytes().splitlines(keepends=True)
    for number, raw in enumerate(lines, 1):
        record, problem = _parse(number, raw, number == len(lines))
        if problem is not None and number == 1:
            raise DamagedJournal(f"line 1: {problem.partition(': ')[2]}, no readable header")
        if record is None:
            if problem is not None:
                damaged.append(problem)
            continue
        try:
            kind = record["kind"]
            if kind == "header":
                if record.get("version") != SPOOL_VERSION:
                    raise SpoolError(
                        f"spool version {record.get('version')} is unknown "
                        "(written by another version of pytest-testreport)"
                    )
                header, state = record, record.get("state") or {}
            elif kind == "state":
                state = dict(record["state"])
            elif kind == "ack":
                acked.add(int(record["entry"]))
            elif kind == "progress" and record["entry"] in entries:
                entries[record["entry"]].progress = dict(record["progress"])
            elif kind in ("open", "results", "close"):
                entry = SpooledEntry(int(record["entry"]), kind, record,
                                     dict(record.get("progress") or {}))  # fmt: skip
                entry.check()
                entries[entry.entry] = entry
                closes = closes or kind == "close"
        except (KeyError, TypeError, ValueError):
            damaged.append(f"line {number}: not a journal record")
    if header is None:
        raise DamagedJournal("no header line")
    try:
        target, session = str(header["target"]), Session.model_validate(header["session"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DamagedJournal(f"line 1: not a journal header ({exc})") from None
    return SpoolFile(
        path=path,
        target=target,
        session=session,
        state=state,
        pending=[e for n, e in sorted(entries.items()) if n not in acked],
        next_entry=max(entries, default=0) + 1,
        damaged=damaged,
        closes=closes,
    )


@contextlib.contextmanager
def lock_exclusive(path: Path) -> Iterator[bool]:
    """Hold the journal's lock for a replay; yields False when a running pytest holds it."""
    if fcntl is None:
        yield True
        return
    with path.open("a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def find_journals(directory: Path, target: Optional[str] = None) -> list[Path]:
    if not directory.is_dir():
        return []
    pattern = f"{target}-*.jsonl" if target else "*.jsonl"
    return sorted(directory.glob(pattern), key=lambda p: p.stat().st_mtime)
