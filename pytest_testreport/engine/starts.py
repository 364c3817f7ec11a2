"""Live starts (BrowserStack): a test's start goes out while it runs, its result after it.

Used by a ``Sender`` only when its target ``wants_starts``. The batching side (engine.py) stays
unaware of the order starts need: it asks this class which starts are still worth sending,
sends them through it, and lets each result wait here for its start's answer.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from ..model import TestResult, TestStart
from .limits import Deadline

START_WAIT = 60.0  # longest a result waits for its live start's answer before the deadline


class LiveStarts:
    """The order between a target's live starts and their results."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self._ended: set[str] = set()  # results put whose start was not dispatched yet
        self._starting: dict[str, threading.Event] = {}  # dispatched starts, set once answered

    def ended(self, result: TestResult) -> None:
        """A result was queued (on the thread that puts): its start need not go out alone."""
        self._ended.add(result.uuid)

    def coalesce(self, batch: list[Any]) -> list[Any]:
        """Drop the starts of tests that have ended already (on the sender's own thread).

        Such a result starts its run itself, back to back with its finish; sent apart, the
        result would hold a pool thread waiting for its start and halve the throughput of a
        backlog. A start that is dispatched gets an event its result waits for.
        """
        kept = []
        for item in batch:
            if isinstance(item, TestStart):
                if item.uuid in self._ended:
                    continue
                self._starting[item.uuid] = threading.Event()
            else:
                self._ended.discard(item.uuid)
            kept.append(item)
        return kept

    def wait_for(self, results: list[TestResult]) -> None:
        """A result goes out only after its live start answered (or the deadline came)."""
        for result in results:
            started = self._starting.get(result.uuid)
            if started is not None:
                started.wait(self.deadline.cap(START_WAIT))

    def send(self, starts: list[TestStart], send: Callable[[TestStart], None], skip: bool,
             note: Callable[[str], None]) -> None:  # fmt: skip
        """Best effort: a start that fails (or is skipped) is sent by the target with its result.

        Every start is marked answered, sent or not, so that no result waits for it.
        """
        for start in starts:
            try:
                if not skip:
                    send(start)
            except Exception as exc:
                note(f"a live test start failed (sent with the result): {exc}")
            finally:
                started = self._starting.pop(start.uuid, None)
                if started is not None:
                    started.set()
