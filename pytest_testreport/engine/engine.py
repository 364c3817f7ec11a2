"""Background senders: the pytest thread only enqueues; daemon threads deliver or spool.

Per target: one thread batches results by size and age and hands each batch to the target
(inline, or to a small pool for targets with ``concurrency > 1``). The pytest thread only
appends to a deque; it wakes the sender only when a batch is full, because waking a thread
for every result costs more than everything else the plugin does per test. Whatever cannot be
delivered goes to the target's journal, never dropped. At the end of the run every sender
gets the final session and a shared deadline; whatever is still pending then is spooled.
The order live starts need (BrowserStack) is kept by starts.py, used only by such targets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Optional

from ..model import Session, TestResult, TestStart
from .acks import Observer
from .errors import RejectedError, RetryableError, UnusableError
from .limits import Deadline
from .spool import Journal
from .starts import LiveStarts
from .state import SenderState, _describe, guarded
from .target import MAX_TEST_LINKS, Target

log = logging.getLogger("pytest_testreport")

MAX_BACKLOG = 5_000  # queued results beyond this are spooled instead of waiting in memory
BREAKER_START, BREAKER_MAX = 5.0, 60.0
DEADLINE_NOTE = "delivery did not finish before the end-of-run deadline"
BUDGET_NOTE = "the request budget cannot send these before the end-of-run deadline"
POLL = 0.1  # seconds between the sender's looks at a deque that has not filled a batch
WAKE_AT = 32  # a smaller batch (BrowserStack's is 1) waits for the next look instead


class Sender(threading.Thread):
    """Delivers one target's session; spools what it cannot deliver."""

    observer = Observer()  # told what happened to each result (the delivery process acks it)
    resume_state: Optional[dict[str, Any]] = None  # set: the session was opened by another process

    def __init__(self, target: Target, session: Session, journal: Journal,
                 deadline: Deadline) -> None:  # fmt: skip
        super().__init__(name=f"testreport-{target.name}", daemon=True)
        self.target = target
        self.journal = journal
        self.deadline = deadline
        self.state = SenderState(target.name)
        self.pending: deque[TestResult | TestStart] = deque()
        self._wake = threading.Event()
        self._final: Optional[Session] = None  # set once, by ``close``
        self._session = session
        self._lock = threading.Lock()
        # Batches being delivered, with the progress their target recorded so far.
        self._inflight: dict[int, tuple[list[TestResult], dict[str, Any]]] = {}
        self._abandoned = False
        self._breaker_until = 0.0
        self._breaker_wait = BREAKER_START
        self._pool: Optional[ThreadPoolExecutor] = None
        self._futures: list[Future[None]] = []
        # Only for targets with live starts: the order between a start and its result.
        self._starts: Optional[LiveStarts] = LiveStarts(deadline) if target.wants_starts else None

    # -- lifecycle -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._open()
            if self.target.concurrency > 1:
                self._pool = ThreadPoolExecutor(self.target.concurrency, self.name)
            self._loop()
        except Exception as exc:  # a bug of ours must not kill the run: say so, keep going
            self.state.note(f"internal error: {_describe(exc)}")
        finally:
            # Here, on the thread that opened them: a SQLite connection refuses any other.
            guarded(self.state, "releasing", self.target.release)

    def put(self, result: TestResult | TestStart) -> None:
        """Called on the pytest thread: an append, and a wake-up only for a full batch."""
        self.pending.append(result)
        if self._starts is not None and not isinstance(result, TestStart):
            self._starts.ended(result)
        if len(self.pending) >= max(self.target.batch_size, WAKE_AT):
            self._wake.set()

    def close(self, session: Session) -> None:
        self._final = session
        self._wake.set()

    def _loop(self) -> None:
        first_seen: Optional[float] = None  # when the sender first saw the oldest pending item
        spilled = False  # the end's backlog was weighed against the budget
        while True:
            self._wake.wait(POLL)
            self._wake.clear()
            final = self._final  # read before taking: everything put before close is taken
            if final is not None and not spilled:
                spilled = True
                self._spool_unsendable()
            now = time.monotonic()
            if self.pending and first_seen is None:
                first_seen = now
            size = self.target.batch_size
            aged = first_seen is not None and now - first_seen >= self.target.batch_age
            while len(self.pending) >= size or (self.pending and (aged or final is not None)):
                self._dispatch(*self._take(size))
                first_seen = time.monotonic() if self.pending else None
                aged = False
            if final is not None:
                self._drain_pool()
                self._close(final)
                return

    def _take(self, size: int) -> tuple[int, list[Any]]:
        """Move up to ``size`` results from the deque to in-flight, atomically for ``abandon``."""
        with self._lock:
            batch = [self.pending.popleft() for _ in range(min(size, len(self.pending)))]
            key = id(batch)
            self._inflight[key] = (batch, {})
        return key, batch

    def _open(self) -> None:
        try:
            if self.resume_state is None:
                self.target.open_session(self._session)
            else:
                self.target.resume(self.resume_state, self._session)
            self.state.opened = True
            state = self.target.state()
            self.journal.set_state(state)
            self.observer.opened(self.target.name, state)
        except Exception as exc:
            self._go_offline(f"opening the session failed: {_describe(exc)}")
            try:
                self.journal.add_open()
            except OSError as error:  # the run goes on; every result counts as lost
                self.state.note(f"cannot write the spool: {error}")

    def _close(self, session: Session) -> None:
        with self._lock:
            if self._abandoned:
                return
        if self.state.opened and not self.state.offline and not self.journal.exists:
            try:
                self.target.close_session(session)
                self.state.closed = True
                self.observer.closed(self.target.name, spooled=False)
                return
            except Exception as exc:
                self.state.note(f"closing the session failed: {_describe(exc)}")
        # Close only after everything before it: when anything is spooled, so is the close.
        self._spool_close(session)

    def _spool_close(self, session: Session) -> None:
        try:
            self.journal.add_close(session)
            self.state.close_spooled = True
            self.state.spool_path = self.journal.path
            self.observer.closed(self.target.name, spooled=True)
        except OSError as exc:
            self.state.note(f"cannot write the spool: {exc}")

    # -- delivery --------------------------------------------------------------------------
    def _dispatch(self, key: int, batch: list[Any]) -> None:
        if self._starts is not None:
            batch[:] = self._starts.coalesce(batch)
            if not batch:
                self._forget(key)
                return
        if self._pool is None:
            self._deliver(key, batch)
            return
        self._futures = [f for f in self._futures if not f.done()]
        while len(self._futures) >= self.target.concurrency * 2:  # bound memory: wait a slot
            self._futures[0].result()
            self._futures = [f for f in self._futures if not f.done()]
        self._futures.append(self._pool.submit(self._deliver, key, batch))

    def _drain_pool(self) -> None:
        for future in self._futures:
            future.result()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _deliver(self, key: int, batch: list[Any]) -> None:
        """Send one batch; a 400-class rejection of a batch is split to isolate the bad item."""
        if self._starts is not None:
            starts = [item for item in batch if isinstance(item, TestStart)]
            if starts:
                self._send_starts(self._starts, starts)
                results = [item for item in batch if not isinstance(item, TestStart)]
                if not self._forget(key) or not results:
                    return
                key, batch = self._track(results)
            self._starts.wait_for(batch)
        parts = [(key, batch)]
        while parts:
            key, part = parts.pop()
            reason = self._skip_reason()
            if reason:
                self._spool(part, {}, reason, key)
                continue
            progress = self._progress(key)
            try:
                self.target.send_batch(self._session, part, progress)
            except UnusableError as exc:
                self._go_offline(_describe(exc))
                self._spool(part, progress, _describe(exc), key)
            except RejectedError as exc:
                if exc.stops_target:
                    self._go_offline(_describe(exc))
                elif len(part) > 1 and exc.status in (400, 413, 422):
                    if self._forget(key):
                        middle = len(part) // 2
                        parts.extend(self._track(p) for p in (part[middle:], part[:middle]))
                    continue
                self._spool(part, progress, _describe(exc), key)
            except RetryableError as exc:
                self._trip_breaker()
                self._spool(part, progress, _describe(exc), key)
            except Exception as exc:
                self._spool(part, progress, _describe(exc), key)
            else:
                self._breaker_wait = BREAKER_START
                if self._forget(key):
                    with self._lock:
                        self.state.delivered += len(part)
                    self.observer.resolved(self.target.name, part, "delivered")

    def _send_starts(self, live: LiveStarts, starts: list[TestStart]) -> None:
        """Best effort, skipped while offline or the breaker is open (see ``LiveStarts.send``)."""
        skip = bool(self.state.offline) or time.monotonic() < self._breaker_until

        def send(start: TestStart) -> None:
            self.target.send_start(self._session, start)

        live.send(starts, send, skip, self.state.note)

    def _skip_reason(self) -> Optional[str]:
        if self.state.offline:
            return self.state.offline
        if time.monotonic() < self._breaker_until:
            return "the service is failing; spooled while it recovers"
        if self.target.spools_backlog and len(self.pending) > MAX_BACKLOG:
            return "the service cannot keep up; spooled to bound memory"
        return None

    def _trip_breaker(self) -> None:
        self._breaker_until = time.monotonic() + self._breaker_wait
        self._breaker_wait = min(self._breaker_wait * 2, BREAKER_MAX)

    def _go_offline(self, reason: str) -> None:
        self.state.offline = reason
        self.state.note(reason)

    def _track(self, part: list[TestResult]) -> tuple[int, list[TestResult]]:
        with self._lock:
            self._inflight[id(part)] = (part, {})
        return id(part), part

    def _progress(self, key: int) -> dict[str, Any]:
        with self._lock:
            entry = self._inflight.get(key)
        return entry[1] if entry is not None else {}

    def _forget(self, key: int) -> bool:
        """Drop an in-flight batch; False when ``abandon`` already spooled it."""
        with self._lock:
            return self._inflight.pop(key, None) is not None

    def _spool(self, results: list[TestResult], progress: dict[str, Any], reason: str,
               key: Optional[int] = None) -> None:  # fmt: skip
        if key is not None and not self._forget(key):
            return
        self.state.note(reason)
        try:
            self.journal.add_results(results, progress, reason)
            with self._lock:
                self.state.spooled += len(results)
            self.state.spool_path = self.journal.path
            self.observer.resolved(self.target.name, results, "spooled")
        except OSError as exc:
            with self._lock:
                self.state.lost += len(results)
            self.state.note(f"cannot write the spool, {len(results)} results lost: {exc}")
            self.observer.resolved(self.target.name, results, "lost")

    # -- the deadline ----------------------------------------------------------------------
    def _spool_unsendable(self) -> None:
        """The run ended: what the request budget cannot send before the deadline is spooled
        now, rather than after waiting out the whole deadline for it (oldest results stay).
        One request is kept for closing the session."""
        remaining = self.deadline.remaining()
        # Four fifths of the time left: the requests themselves take time too.
        room = self.target.sendable(remaining * 0.8) if remaining is not None else None
        if room is None or self.state.offline:
            return
        with self._lock:
            results = [item for item in self.pending if not isinstance(item, TestStart)]
            if len(results) <= max(room - 1, 0):
                return
            spill = results[max(room - 1, 0) :]
            dropped = {id(item) for item in spill}
            kept = [item for item in self.pending if id(item) not in dropped]
            self.pending.clear()
            self.pending.extend(kept)
        size = self.target.batch_size  # spooled batches must stay sendable as they are
        for start in range(0, len(spill), size):
            self._spool(spill[start : start + size], {}, BUDGET_NOTE)

    def describe(self, session: Session) -> None:
        """Keep the target's summary line and link with the state (they may be read elsewhere)."""
        try:
            if self.state.closed:
                self.state.summary = self.target.summary(self._final or session)
            self.state.link = self.target.link()
            self.state.test_links = dict(list(self.target.test_links().items())[:MAX_TEST_LINKS])
        except Exception as exc:  # a summary is not worth a crash at the end of the run
            self.state.summary = f"closed ({_describe(exc)} while summarising)"

    def abandon(self) -> None:
        """The deadline passed: spool everything still queued or in flight, then stop."""
        with self._lock:
            self._abandoned = True
            inflight = list(self._inflight.values())
            self._inflight.clear()
            queued = [item for item in self.pending if not isinstance(item, TestStart)]
            self.pending.clear()
        self.state.note(DEADLINE_NOTE)
        for batch, progress in inflight:  # with how far the target got, so replay resumes there
            results = [item for item in batch if not isinstance(item, TestStart)]
            if results:
                self._spool(results, dict(progress), DEADLINE_NOTE)
        size = self.target.batch_size  # spooled batches must stay sendable as they are
        for start in range(0, len(queued), size):
            self._spool(queued[start : start + size], {}, DEADLINE_NOTE)
        if not self.state.closed:
            self._spool_close(self._final or self._session)
        self.target.abort()
