"""The delivery process died: the pytest process delivers the rest itself, from threads.

Per target, from what the delivery process reported before it died:
- it opened the session: an in-process ``Engine`` resumes it (never opens it twice) and gets
  exactly the results the target has not resolved, then everything that follows;
- its opening is spooled in the target's journal: the rest is appended to that journal, so that
  ``replay`` opens the session once and delivers everything in order;
- it closed the session (or spooled its close): nothing is left to do;
- nothing is known (it died before opening): the session is opened from here.
Targets are idempotent on ``TestResult.uuid``, so a result that was in flight when the process
died may be sent again without harm (BrowserStack looks its runs up by our id when it resumes).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from ..model import Session, TestResult, TestStart
from .acks import Resolved
from .inprocess import Engine
from .scrub import Scrubber
from .spool import Journal, SpoolError, SpoolFile, fcntl, read_journal
from .state import SenderState

if TYPE_CHECKING:
    from .ledger import Ledger
    from .target import Target

OPEN_SPOOLED = "its opening is spooled: pytest-testreport replay opens it and delivers the rest"


@dataclass
class Facts:
    """What the delivery process said about each target's session (by target name)."""

    opened: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed: dict[str, bool] = field(default_factory=dict)  # True: the close was spooled


def continued_journal(directory: Path, target: str, session: Session) -> Journal:
    """The dead process's journal of this target, appended to; a new one if it left none."""
    path = directory / f"{target}-{session.uuid}.jsonl"
    spooled = _read(path)
    if spooled is None:
        journal = Journal(directory, target, session)
        if path.exists():  # unreadable: keep it for a look, and write beside it
            journal.path = path.with_name(f"{target}-{session.uuid}-continued.jsonl")
        return journal
    journal = Journal.reopen(spooled)
    if fcntl is not None and journal._file is not None:  # as any journal a run writes
        fcntl.flock(journal._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return journal


def _read(path: Path) -> Optional[SpoolFile]:
    """The journal, its last line cut if the process died writing it; None if unusable."""
    try:
        with path.open("rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
        return read_journal(path)
    except (OSError, SpoolError):
        return None


def left_in_journal(spool: Path, target: str, session: Session) -> tuple[set[str], dict[str, Any]]:
    """The kinds of entry (open, results, close) the dead process's journal still holds, and
    the session state it recorded."""
    spooled = _read(spool / f"{target}-{session.uuid}.jsonl")
    if spooled is None:
        return set(), {}
    return {entry.kind for entry in spooled.pending}, spooled.state


class _Part:
    """One target's share of the takeover."""

    def __init__(self, name: str, before: Resolved) -> None:
        self.name = name
        self.before = before  # what the delivery process resolved, as it last acknowledged

    def submit(self, items: list[Union[TestResult, TestStart]]) -> None:
        return None

    def finish(self, session: Session, timeout: float) -> SenderState:
        raise NotImplementedError

    def merged(self, state: SenderState) -> SenderState:
        state.delivered += self.before.counts["delivered"]
        state.spooled += self.before.counts["spooled"]
        state.lost += self.before.counts["lost"]
        return state


class _Delivered(_Part):
    """A session the pytest process opens or resumes, with an engine of its own."""

    def __init__(self, target: Target, before: Resolved, session: Session, spool: Path,
                 state: Optional[dict[str, Any]], results: list[TestResult]) -> None:  # fmt: skip
        super().__init__(target.name, before)
        resume = {target.name: state} if state is not None else None
        self.engine = Engine([target], spool, resume=resume, journal=continued_journal)
        self.engine.start(session)
        self.engine.submit_items(results)

    def submit(self, items: list[Union[TestResult, TestStart]]) -> None:
        self.engine.submit_items(items)

    def finish(self, session: Session, timeout: float) -> SenderState:
        return self.merged(self.engine.finish(session, timeout)[0])


class _Spooled(_Part):
    """A session whose opening waits in the journal: everything else joins it there."""

    def __init__(self, target: Target, before: Resolved, journal: Journal,
                 results: list[TestResult]) -> None:  # fmt: skip
        super().__init__(target.name, before)
        self.journal, self.batch_size = journal, target.batch_size
        self.state = SenderState(target.name, offline=OPEN_SPOOLED, spool_path=journal.path)
        self.state.note(OPEN_SPOOLED)
        self._lock = threading.Lock()
        self.submit(list(results))

    def submit(self, items: list[Union[TestResult, TestStart]]) -> None:
        results = [item for item in items if not isinstance(item, TestStart)]
        with self._lock:
            for start in range(0, len(results), self.batch_size):
                chunk = results[start : start + self.batch_size]
                try:
                    self.journal.add_results(chunk, {}, OPEN_SPOOLED)
                    self.state.spooled += len(chunk)
                except OSError as exc:
                    self.state.lost += len(chunk)
                    self.state.note(f"cannot write the spool, {len(chunk)} results lost: {exc}")

    def finish(self, session: Session, timeout: float) -> SenderState:
        with self._lock:
            try:
                self.journal.add_close(session)
                self.state.close_spooled = True
            except OSError as exc:
                self.state.note(f"cannot write the spool: {exc}")
            self.journal.close()
        return self.merged(self.state)


class _Closed(_Part):
    """The delivery process closed the session (or spooled its close) before it died."""

    def __init__(self, name: str, before: Resolved, spooled: bool, left: int) -> None:
        super().__init__(name, before)
        self.state = SenderState(name, opened=True, closed=not spooled, close_spooled=spooled)
        if left:  # resolved but never acknowledged: it cannot have been sent after the close
            self.state.unknown = left
            self.state.note(f"{left} results were not confirmed before the session closed")

    def finish(self, session: Session, timeout: float) -> SenderState:
        self.state.summary = session.summary()
        return self.merged(self.state)


class Takeover:
    """Delivery from the pytest process, continuing where the delivery process stopped."""

    def __init__(self, targets: list[Target], spool: Path, session: Session, ledger: Ledger,
                 facts: Facts, reason: str, secrets: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.reason = reason
        # What the pytest process kept was never cleaned (the delivery process cleans): clean
        # it here, before any target or journal sees it.
        self._scrub = Scrubber(secrets)
        self._scrub.clean(session)
        missing = {
            name: [self._scrub.clean(result) for result in results]
            for name, results in ledger.outstanding().items()
        }
        self.parts = [
            self._part(
                target, spool, session, ledger.acks[target.name], facts, missing[target.name]
            )
            for target in targets
        ]
        ledger.clear()

    @staticmethod
    def _part(target: Target, spool: Path, session: Session, before: Resolved, facts: Facts,
              results: list[TestResult]) -> _Part:  # fmt: skip
        name = target.name
        kinds, state = left_in_journal(spool, name, session)
        if name in facts.closed or "close" in kinds:  # "close": it died before saying so
            return _Closed(name, before, facts.closed.get(name, True), len(results))
        if "open" in kinds:
            return _Spooled(target, before, continued_journal(spool, name, session), results)
        # A session it opened is resumed, never opened twice; its journal knows it too.
        opened = facts.opened.get(name) or state or None
        return _Delivered(target, before, session, spool, opened, results)

    def submit_items(self, items: list[Union[TestResult, TestStart]]) -> None:
        items = [self._scrub.clean(item) for item in items]
        for part in self.parts:
            part.submit(items)

    def finish(self, session: Session, timeout: float) -> list[SenderState]:
        """Close every session, all targets at once; never wait past ``timeout``."""
        states: dict[str, SenderState] = {}

        def run(part: _Part) -> None:
            try:
                states[part.name] = part.finish(session, timeout)
            except Exception as exc:  # a bug of ours must not cost the other targets
                states[part.name] = SenderState(part.name, errors=[f"internal error: {exc}"])

        threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in self.parts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()  # each finish keeps its own deadline
        result = [states[part.name] for part in self.parts]
        for state in result:
            state.errors.insert(0, self.reason)
        return result
