"""The controller's feeder: pytest reports in, model objects out to delivery, off the test's thread.

The test's thread appends each report to a deque and returns (``deque.append`` is atomic and
takes no lock). The feeder thread looks every ``POLL`` seconds, takes what is queued in frames
of at most ``CHUNK`` entries, reads the reports into results (``ReportReader``), counts each
result into the session once, and hands the frame to the ``Delivery``. Waking the feeder from
the test's thread would cost an ``Event.set`` and a GIL hand-off per batch of a few tests, so
only draining wakes it. Delivery (engine/) never sees a pytest report.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import pytest

from .api import EXTRA_ATTR
from .model import Session, TestResult, TestStart

if TYPE_CHECKING:
    from .engine.delivery import Delivery
    from .report.job_summary import RunNotes
    from .reports import ResultAssembler

Item = Union[TestResult, TestStart]
POLL = 0.1  # seconds between the feeder's looks at the queue
# Queued entries per frame: enough to amortise a frame, few enough that the results built
# for it die young (objects that outlive a collection make Python's full collections, which
# walk all of pytest's objects, come sooner) and that a frame stays small.
CHUNK = 256


class ReportReader:
    """A report's completed results and, for live-start targets, its start.

    Our data comes off the report once read: pytest keeps every report until the end, and the
    data (fixture runs, logs, steps) would grow memory with the suite's size.
    """

    def __init__(self, assembler: ResultAssembler, live_starts: bool,
                 on_result: Callable[[TestResult], Any]) -> None:  # fmt: skip
        self.assembler = assembler
        self.live_starts = live_starts
        self.on_result = on_result  # the ``pytest_testreport_result`` hook

    def __call__(self, report: Any, run_hook: bool = False) -> list[Item]:
        try:
            if isinstance(report, pytest.CollectReport):
                failed = self.assembler.add_collect_report(report)
                results = [failed] if failed is not None else []
            else:
                results = self.assembler.add(report)
            if run_hook:
                for result in results:
                    self.on_result(result)
            items: list[Item] = list(results)
            if self.live_starts and report.when == "setup":  # the test has started
                start = self.assembler.started(report.nodeid)
                if start is not None:
                    items.append(start)
            return items
        finally:
            vars(report).pop(EXTRA_ATTR, None)


class Feeder:
    """Owns the queue and the thread between the test's thread and delivery.

    An entry is a pytest report (read here) or a list of items already read on the test's
    thread (when a user's ``pytest_testreport_result`` hook must run there).
    """

    def __init__(self, delivery: Delivery, read: Callable[[Any], list[Item]],
                 notes: Optional[RunNotes] = None) -> None:  # fmt: skip
        self.delivery = delivery
        self._read = read
        self._notes = notes
        self._queue: deque[Any] = deque()
        self.put: Callable[[Any], None] = self._queue.append  # the test's thread: this only
        self.session = Session()  # replaced by ``start``: the session counted into
        self.handed = 0  # results handed to delivery: each must end delivered, spooled or lost
        self.error: Optional[str] = None  # the first report that could not be read
        self._closing = False
        self._plan: Optional[int] = None  # the collected count, until the thread passes it on
        self._wake = threading.Event()  # set only to drain: never per test
        self._thread: Optional[threading.Thread] = None

    def start(self, session: Session) -> None:
        """Start the thread; it starts delivery first (which may wait for a child process)."""
        self.session = session
        self._thread = threading.Thread(target=self._run, name="testreport-feeder", daemon=True)
        self._thread.start()

    def plan(self, tests: int) -> None:
        """The collected count: passed on by the feeder's thread, after delivery started and
        before the results it queues next (hooks do no I/O)."""
        self._plan = tests
        self._wake.set()

    def drain(self, timeout: float) -> None:
        """Take no more; wait (at most ``timeout``) until every queued entry was handed over."""
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        self._guarded("starting delivery", self.delivery.start, self.session)
        while True:
            self._wake.wait(POLL)
            self._wake.clear()
            closing = self._closing
            if self._plan is not None:
                tests, self._plan = self._plan, None
                self._guarded("planning", self.delivery.plan, tests)
            self._hand_over()  # even an empty frame: delivery's housekeeping (a takeover)
            while self._queue:  # everything queued, a frame per CHUNK entries
                self._hand_over()
            if closing and not self._queue:
                return

    def _hand_over(self) -> None:
        self._guarded("handing results over", self.delivery.submit_items, self.take(CHUNK))

    def _guarded(self, doing: str, call: Callable[[Any], None], argument: Any) -> None:
        """A bug of ours in delivery must not stop the feeder: the rest is still counted."""
        try:
            call(argument)
        except Exception as exc:
            self.error = self.error or f"internal error {doing}: {type(exc).__name__}: {exc}"

    def take(self, limit: int) -> list[Item]:
        """Up to ``limit`` queued entries as items, in order; their results counted."""
        batch: list[Item] = []
        queue, read = self._queue, self._read
        for _ in range(min(limit, len(queue))):
            entry = queue.popleft()
            if type(entry) is list:
                batch.extend(entry)
                continue
            try:
                batch.extend(read(entry))
            except Exception as exc:  # a bug of ours: say so at the end, keep the rest going
                nodeid = getattr(entry, "nodeid", "?")
                self.error = self.error or (
                    f"internal error reading the report of {nodeid}: {type(exc).__name__}: {exc}"
                )
        self._count(batch)
        return batch

    def _count(self, items: list[Item]) -> None:
        """The one place results are counted: the session, the job summary, what was handed."""
        session, notes = self.session, self._notes
        for item in items:
            if isinstance(item, TestStart):
                continue
            session.count(item)
            if notes is not None:
                notes.add(item)
            self.handed += 1
