"""Delivery from a child process: the pytest process keeps only the cost of handing results over.

Python threads share one interpreter lock, so every microsecond a sender thread spends mapping,
encoding or writing is a microsecond the test thread waits. The delivery process runs the same
``Engine`` (engine.py) on another core: the pytest process appends each result to a deque, and
one feeder thread pickles them in batches down a pipe. The HTTP stack, CI-independent mapping,
SQLite and JSON never load in the pytest process.

The child also outlives a pytest process that is killed outright: when its input ends without
a ``finish``, it closes the session as interrupted and delivers or spools what it has.

Frames on both pipes: a 4-byte big-endian length, then a pickle. Parent to child:
``("start", settings, session)``, ``("items", [...])``, ``("finish", session, timeout)``.
Child to parent: ``("ready",)`` once its targets are built, then ``("done", [SenderState, ...])``
or, at any time, ``("failed", text)``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Optional, Union

from ..model import TestResult, TestStart
from .engine import POLL, WAKE_AT, Engine, SenderState

if TYPE_CHECKING:
    from ..config import Settings
    from ..model import Session
    from .target import Target

HEADER = struct.Struct(">I")
# How long the pytest process waits for the child's report past the flush deadline: the child
# spools what the deadline cut short, which takes a moment for a large backlog.
REPORT_GRACE = 2.0
REAP_WAIT = 0.5
READY_WAIT = 30.0  # a child slower than this to import and open is not going to help
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def write_frame(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Optional[Any]:
    """The next message, or None at the end of the stream."""
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    body = _read_exactly(stream, HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def _read_exactly(stream: IO[bytes], size: int) -> Optional[bytes]:
    chunks, missing = [], size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def child_command(targets: list[str]) -> tuple[list[str], dict[str, str]]:
    """The interpreter running pytest, with this package importable however pytest found it.

    The target names let the child import what it will need while pytest still collects.
    """
    env = dict(os.environ)
    paths = [PACKAGE_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return [sys.executable, "-m", "pytest_testreport.engine.child", *targets], env


class DeliveryProcess:
    """The engine's interface (start, submit_items, drain, finish), the engine in a child.

    Until the child says it is ready, results wait in the deque; a child that cannot start
    hands the run to an in-process ``Engine`` instead, so nothing is lost either way.
    """

    def __init__(self, settings: Settings, targets: list[Target]) -> None:
        self.settings = settings
        self.targets = targets
        self.wants_starts = any(target.wants_starts for target in targets)
        # Turns a pytest report into results and starts; set by the controller for
        # ``submit_report``, and called on the feeder thread.
        self.intake: Optional[Callable[[Any], list[Union[TestResult, TestStart]]]] = None
        self._intake_error: Optional[str] = None
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._submitted = 0  # for the report if the child dies: it may have sent any of them
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._feeder: Optional[threading.Thread] = None
        self._ready = threading.Event()  # set by "ready", or by a failure before it
        self._was_ready = False  # the child said "ready": it may have opened sessions
        self._replies: queue.Queue[Any] = queue.Queue()
        self._broken: Optional[str] = None
        self._launch_error: Optional[str] = None
        self._fallback: Optional[Engine] = None
        self._fallback_reason = ""

    # -- the test's path: a deque append ------------------------------------------------------
    def submit_items(self, items: Iterable[Union[TestResult, TestStart]]) -> None:
        for item in items:
            self._put(item)

    def submit_report(self, report: Any) -> None:
        """A pytest report, read later by ``intake`` on the feeder thread."""
        self._put(report)

    def _put(self, item: Any) -> None:
        self._queue.append(item)
        if len(self._queue) >= WAKE_AT and not self._wake.is_set():
            self._wake.set()

    # -- start and finish ---------------------------------------------------------------------
    def start(self, session: Session) -> None:
        self._feeder = threading.Thread(
            target=self._feed, args=(session,), name="testreport-feeder", daemon=True
        )
        self._feeder.start()

    def drain(self, timeout: float) -> None:
        """Take no more items; wait (at most ``timeout``) until every queued one was handed over."""
        self._closing = True
        self._wake.set()
        if self._feeder is not None:
            self._feeder.join(timeout)

    def finish(self, session: Session, timeout: float) -> list[SenderState]:
        """Hand over the rest and the final session; never wait past ``timeout`` (+ grace)."""
        ends = time.monotonic() + timeout
        self.drain(timeout)
        states = self._final_states(session, ends)
        if self._intake_error is not None:
            for state in states:
                state.errors.insert(0, self._intake_error)
        return states

    def _final_states(self, session: Session, ends: float) -> list[SenderState]:
        if self._fallback is not None and not self._feeder_alive():
            states = self._fallback.finish(session, max(0.0, ends - time.monotonic()))
            for state in states:
                state.errors.insert(0, self._fallback_reason)
            return states
        if self._proc is not None and self._broken is None and not self._feeder_alive():
            self._send(("finish", session, max(0.0, ends - time.monotonic())), close=True)
        try:
            reply = self._replies.get(timeout=max(0.0, ends - time.monotonic()) + REPORT_GRACE)
        except queue.Empty:
            reply = ("failed", "the delivery process did not report back before the deadline; "
                     f"what it could not deliver is in {self.settings.spool_path}")  # fmt: skip
        if reply[0] == "done":
            self._reap()
            return list(reply[1])
        return self._failed_states(self._broken or reply[1])

    def _reap(self) -> None:
        """The child exits right after its report; collect it, so it is not left a zombie."""
        assert self._proc is not None
        # Still tearing down after REAP_WAIT: it exits on its own, nothing waits on it.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(REAP_WAIT)

    def _feeder_alive(self) -> bool:
        return self._feeder is not None and self._feeder.is_alive()

    def _failed_states(self, reason: str) -> list[SenderState]:
        states = []
        for target in self.targets:
            state = SenderState(target.name, unknown=self._submitted,
                                spool_path=self.settings.spool_path)  # fmt: skip
            state.errors.append(f"{reason}; any of this run's {self._submitted} results may be "
                                "missing on the target")  # fmt: skip
            states.append(state)
        return states

    # -- the feeder thread, and the listener it starts ----------------------------------------
    def _feed(self, session: Session) -> None:
        """Start the child, then pickle queued items in batches down the pipe."""
        problem = self._spawn(session)
        if problem is not None:
            self._fall_back(session, problem)
        while True:
            self._wake.wait(POLL)
            self._wake.clear()
            closing = self._closing
            batch = self._take_batch()  # read even when the child is gone: to count them
            if batch:
                self._hand_over(batch)
            if closing and not self._queue:
                return

    def _take_batch(self) -> list[Union[TestResult, TestStart]]:
        """Everything queued, reports read into results and starts (in order)."""
        batch: list[Union[TestResult, TestStart]] = []
        queue, intake = self._queue, self.intake
        while queue:
            item = queue.popleft()
            if isinstance(item, (TestResult, TestStart)):
                batch.append(item)
                continue
            try:
                batch.extend(intake(item))  # type: ignore[misc]
            except Exception as exc:  # a bug of ours: say so at the end, keep the rest going
                nodeid = getattr(item, "nodeid", "?")
                self._intake_error = self._intake_error or (
                    f"internal error reading the report of {nodeid}: {type(exc).__name__}: {exc}"
                )
        self._submitted += sum(1 for item in batch if not isinstance(item, TestStart))
        return batch

    def launch(self) -> None:
        """Start the child early (at configure): its start-up overlaps with collection."""
        if self._proc is not None or self._launch_error is not None:
            return
        command, env = child_command([target.name for target in self.targets])
        popen_options: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        }  # fmt: skip
        try:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=env, **popen_options,
            )  # fmt: skip
        except OSError as exc:
            self._launch_error = f"the delivery process could not start ({exc})"
            return
        threading.Thread(target=self._listen, name="testreport-listener", daemon=True).start()

    def _spawn(self, session: Session) -> Optional[str]:
        """Give the child its start and wait until it is ready; the reason when it is not."""
        self.launch()
        if self._launch_error is not None:
            return self._launch_error
        self._send(("start", self.settings, session))  # a failure shows as the listener's reply
        # A child that died answers through the listener (with its exit code) soon enough.
        self._ready.wait(READY_WAIT)
        if self._was_ready:
            # Even if it died right after: it may have opened sessions on the targets, so
            # falling back would open them twice. ``finish`` reports the death instead.
            return None
        if not self._replies.empty():
            return str(self._replies.get()[1])
        return self._broken or f"the delivery process was not ready after {READY_WAIT:.0f} s"

    def _fall_back(self, session: Session, problem: str) -> None:
        """Deliver from threads of this process instead: slower, but nothing is lost."""
        if self._proc is not None:
            self._proc.kill()
        self._fallback_reason = f"{problem}; delivered from the pytest process instead"
        from .scrub import content_secrets

        secrets = content_secrets(self.settings)
        self._fallback = Engine(self.targets, self.settings.spool_path, secrets)
        self._fallback.start(session)

    def _hand_over(self, batch: list[Union[TestResult, TestStart]]) -> None:
        if self._fallback is not None:
            self._fallback.submit_items(batch)
        elif self._broken is None:
            self._send(("items", batch))

    def _send(self, message: Any, close: bool = False) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            write_frame(self._proc.stdin, message)
            if close:
                self._proc.stdin.close()
        except (OSError, ValueError) as exc:  # the child is gone
            self._broken = self._broken or f"the delivery process stopped taking results ({exc})"

    def _listen(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while True:
            try:
                reply = read_frame(self._proc.stdout)
            except Exception as exc:  # a truncated or garbled answer: say so, never crash
                reply = ("failed", f"unreadable answer from the delivery process: {exc}")
            if reply is None:
                code = self._proc.wait()
                reply = ("failed", f"the delivery process exited unexpectedly (exit code {code})")
                self._broken = self._broken or reply[1]
            if reply[0] == "ready":
                self._was_ready = True
                self._ready.set()
                continue
            self._replies.put(reply)
            self._ready.set()  # a failure ends the wait for readiness too
            return
