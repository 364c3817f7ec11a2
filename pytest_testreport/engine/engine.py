"""Background senders: the pytest thread only enqueues; a daemon thread per target delivers."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Union

from ..model import Session, TestResult
from .target import Target

log = logging.getLogger("pytest_testreport")


class _Close:
    """Queue item: the run is over; close the session with this final snapshot."""

    def __init__(self, session: Session) -> None:
        self.session = session


_Item = Union[TestResult, _Close]


@dataclass
class SenderState:
    """What one target's sender achieved; read by the terminal summary."""

    target: str
    delivered: int = 0
    undelivered: int = 0
    opened: bool = False
    closed: bool = False
    errors: list[str] = field(default_factory=list)

    def fail(self, what: str, exc: BaseException) -> None:
        message = f"{what}: {type(exc).__name__}: {exc}"
        log.warning("testreport %s: %s", self.target, message)
        if len(self.errors) < 5:
            self.errors.append(message)


class _Sender(threading.Thread):
    """Delivers one target's results in batches by size and age."""

    def __init__(self, target: Target, session: Session) -> None:
        super().__init__(name=f"testreport-{target.name}", daemon=True)
        self.target = target
        self.state = SenderState(target.name)
        self.queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._session = session

    def run(self) -> None:
        try:
            self.target.open_session(self._session)
            self.state.opened = True
        except Exception as exc:  # a reporter never raises into pytest
            self.state.fail("opening the session failed", exc)
        batch: list[TestResult] = []
        oldest = 0.0
        while True:
            timeout = max(0.0, oldest + self.target.batch_age - time.monotonic()) if batch else None
            try:
                item = self.queue.get(timeout=timeout)
            except queue.Empty:
                batch = self._flush(batch)
                continue
            if isinstance(item, _Close):
                self._flush(batch)
                self._close(item.session)
                return
            if not batch:
                oldest = time.monotonic()
            batch.append(item)
            if len(batch) >= self.target.batch_size:
                batch = self._flush(batch)

    def _flush(self, batch: list[TestResult]) -> list[TestResult]:
        if not batch:
            return batch
        if not self.state.opened:
            self.state.undelivered += len(batch)
            return []
        try:
            self.target.send_batch(self._session, batch)
            self.state.delivered += len(batch)
        except Exception as exc:
            self.state.undelivered += len(batch)
            self.state.fail(f"sending {len(batch)} results failed", exc)
        return []

    def _close(self, session: Session) -> None:
        if not self.state.opened:
            return
        try:
            self.target.close_session(session)
            self.state.closed = True
        except Exception as exc:
            self.state.fail("closing the session failed", exc)


class Engine:
    """Owns the senders. ``submit`` is the only call on the test's path: one queue put each."""

    def __init__(self, targets: list[Target]) -> None:
        self.targets = targets
        self._senders: list[_Sender] = []

    def start(self, session: Session) -> None:
        self._senders = [_Sender(t, session.model_copy(deep=True)) for t in self.targets]
        for sender in self._senders:
            sender.start()

    def submit(self, result: TestResult) -> None:
        for sender in self._senders:
            sender.queue.put(result)

    def finish(self, session: Session, timeout: float) -> list[SenderState]:
        """Close every session and wait for the senders, never longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        for sender in self._senders:
            sender.queue.put(_Close(session.model_copy(deep=True)))
        for sender in self._senders:
            sender.join(max(0.0, deadline - time.monotonic()))
            if sender.is_alive():
                sender.state.fail(
                    "delivery did not finish", TimeoutError(f"flush deadline of {timeout:g} s")
                )
        return [sender.state for sender in self._senders]

    def state(self, name: str) -> Optional[SenderState]:
        return next((s.state for s in self._senders if s.target.name == name), None)
