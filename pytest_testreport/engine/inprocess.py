"""The in-process engine: one ``Sender`` thread per target, fed in order, closed together.

A ``Delivery`` (delivery.py). The delivery process runs it in a child;
``testreport_delivery = thread`` and a takeover run it inside pytest.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable, Optional

from ..model import Session, TestResult, TestStart
from .acks import Observer
from .engine import Sender
from .limits import Deadline
from .scrub import Scrubber
from .spool import Journal
from .state import SenderState, guarded
from .target import Target


class Engine:
    """Owns the senders. Submitting is a deque append per sender (and a wake for a full batch)."""

    def __init__(self, targets: list[Target], spool_dir: Path,
                 secrets: Iterable[str] = (), *,
                 observer: Optional[Observer] = None,
                 resume: Optional[dict[str, dict[str, Any]]] = None,
                 journal: Callable[[Path, str, Session], Journal] = Journal) -> None:  # fmt: skip
        """``resume``: target name -> the state of a session another process opened (taken
        over, not opened again); ``journal`` makes each target's journal (or continues one)."""
        self.targets = targets
        self.spool_dir = spool_dir
        # Every item is cleaned once, before any target sees it: valid text, no credentials.
        self._scrub = Scrubber(secrets)
        self.deadline = Deadline()
        self._senders: list[Sender] = []
        self._observer = observer
        self._resume = resume or {}
        self._journal = journal

    def start(self, session: Session) -> None:
        self._scrub.clean(session)
        for target in self.targets:
            target.bind(self.deadline)
            journal = self._journal(self.spool_dir, target.name, session)
            sender = Sender(target, session.model_copy(deep=True), journal, self.deadline)
            if self._observer is not None:
                sender.observer = self._observer
            sender.resume_state = self._resume.get(target.name)
            self._senders.append(sender)
            sender.start()

    def submit(self, result: TestResult) -> None:
        self._scrub.clean(result)
        for sender in self._senders:
            sender.put(result)

    def submit_items(self, items: Iterable[TestResult | TestStart]) -> None:
        """Results and starts, in order (each to the senders that take it)."""
        for item in items:
            if isinstance(item, TestStart):
                self.submit_start(item)
            else:
                self.submit(item)

    @property
    def wants_starts(self) -> bool:
        return any(target.wants_starts for target in self.targets)

    def submit_start(self, start: TestStart) -> None:
        self._scrub.clean(start)
        for sender in self._senders:
            if sender.target.wants_starts:
                sender.put(start)

    def plan(self, tests: int) -> None:
        """Tell every target how many tests were collected (see ``Target.plan``)."""
        for sender in self._senders:
            guarded(sender.state, "planning", lambda t=sender.target: t.plan(tests))

    def finish(self, session: Session, timeout: float) -> list[SenderState]:
        """Close every session; never wait past ``timeout`` seconds from now."""
        self.deadline.set(timeout)
        self._scrub.clean(session)
        for sender in self._senders:
            sender.close(session.model_copy(deep=True))
        for sender in self._senders:
            sender.join(self.deadline.remaining())
        for sender in self._senders:  # each on its own: one target's failure stays its own
            state = sender.state
            if sender.is_alive():
                guarded(state, "spooling at the deadline", sender.abandon)
                # Stuck in a call: release what another thread may free (the sender's own
                # thread releases the rest, such as a SQLite connection, when it ends).
                guarded(state, "releasing", sender.target.release)
            guarded(state, "closing the spool", sender.journal.close)
            guarded(state, "summarising", lambda s=sender: s.describe(session))
        return [sender.state for sender in self._senders]
