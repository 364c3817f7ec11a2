"""Delivery from a child process: the pytest process keeps only the cost of handing results over.

Python threads share one interpreter lock, so every microsecond a sender thread spends mapping,
encoding or writing is a microsecond the test thread waits. The delivery process runs the same
``Engine`` (engine.py) on another core: the controller's feeder thread (feeder.py) hands results
over in batches, and this class pickles each batch (as rows of plain values, frames.py) down a
pipe, on that thread. The HTTP stack, CI-independent mapping, SQLite and JSON never load in the
pytest process.

The child also outlives a pytest process that is killed outright: when its input ends without
a ``finish``, it closes the session as interrupted and delivers or spools what it has. And the
pytest process outlives a child that dies: it keeps every result it handed over until the child
acknowledged it as delivered or spooled for every target (ledger.py, acks.py); when the child
dies it delivers the rest itself, resuming the sessions the child opened (takeover.py).

Frames on both pipes: a 4-byte big-endian length, then a pickle. Parent to child: ``("start",
settings, session)``, ``("items", first ordinal, packed items (frames.py), session counts)``,
``("finish", session, timeout)``. Child to parent: ``("ready",)`` once its targets are built;
``("opened", target, state)``, ``("ack", seq, {target: Resolved})`` (a few times a second at
most) and ``("closed", target, spooled)`` as they happen; then ``("done", [SenderState, ...])``
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
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Optional, Union

from ..model import COUNT_FIELDS, TestResult, TestStart
from .ledger import Ledger
from .scrub import content_secrets
from .state import SenderState
from .takeover import Facts, Takeover

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
LISTENER_WAIT = 1.0  # for the last frames of a child that died, before taking over
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# The session's counts, as the pytest process computed them (Session.count, once), travel with
# each frame to the delivery process, which closes the session with them when orphaned.
COUNTS = COUNT_FIELDS


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


def counts(session: Session) -> dict[str, int]:
    """The session's counts, to send along with a frame (``COUNTS``)."""
    return {name: getattr(session, name) for name in COUNTS}


def apply_counts(session: Session, values: dict[str, int]) -> None:
    """Give ``session`` the counts the pytest process computed (the orphaned delivery process)."""
    for name in COUNTS:
        setattr(session, name, values.get(name, 0))


def child_command(targets: list[str]) -> tuple[list[str], dict[str, str]]:
    """The interpreter running pytest, with this package importable however pytest found it.

    The target names let the child import what it will need while pytest still collects.
    """
    env = dict(os.environ)
    paths = [PACKAGE_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return [sys.executable, "-m", "pytest_testreport.engine.child", *targets], env


class DeliveryProcess:
    """A ``Delivery`` (delivery.py): the engine in a child process.

    ``start`` and ``submit_items`` run on the controller's feeder thread: until the child says
    it is ready, that thread waits and results wait in the feeder's queue. A child that cannot
    start, or dies later, hands the run over to threads of this process (``Takeover``): nothing
    is lost.
    """

    def __init__(self, settings: Settings, targets: list[Target]) -> None:
        self.settings = settings
        self.targets = targets
        self.wants_starts = any(target.wants_starts for target in targets)
        self._session: Optional[Session] = None  # the controller's: its counts go with frames
        # Held while the feeder's thread starts or hands over: ``finish`` says "finish" to the
        # child only when no hand-over is under way (nor can come after it).
        self._feeding = threading.Lock()
        self._started = False
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._listener: Optional[threading.Thread] = None
        self._ready = threading.Event()  # set by "ready", or by a failure before it
        self._was_ready = False  # the child said "ready": it may have opened sessions
        self._replies: queue.Queue[Any] = queue.Queue()
        self._launch_error: Optional[str] = None
        # Kept until the child confirms it; what the child said about each session.
        self._ledger = Ledger([target.name for target in targets])
        self._facts = Facts()
        self._dead: Optional[str] = None  # why the child can no longer be used
        self._child_said: Optional[str] = None  # its own failure report, the best reason
        self._exit: Optional[str] = None  # how it ended, when it ended on its own
        self._killed = False
        self._takeover: Optional[Takeover] = None
        self._takeover_error: Optional[str] = None
        self._takeover_lock = threading.Lock()

    # -- on the feeder's thread ---------------------------------------------------------------
    def plan(self, tests: int) -> None:
        """The collected count: to the child and to this process's targets, which deliver
        instead of the child when it dies."""
        for target in self.targets:
            with contextlib.suppress(Exception):  # a bug of a target's plan must not stop the run
                target.plan(tests)
        with self._feeding:  # after the start frame (``start`` ran at session start)
            if self._takeover is None and self._dead is None:
                self._send(("plan", tests))

    def start(self, session: Session) -> None:
        """Give the child its start and wait until it is ready (or take over from it)."""
        with self._feeding:
            self._session = session
            problem = self._spawn(session)
            if problem is not None:
                self._mark_dead(problem)
            self._started = True

    def submit_items(self, items: Iterable[Union[TestResult, TestStart]]) -> None:
        """Pickle a batch down the pipe (kept in the ledger first); take over from a dead child.

        Called on every look of the feeder, with an empty batch when nothing was queued: a
        child that died is taken over at once, not at the next result.
        """
        with self._feeding:
            if self._dead is not None and self._takeover is None:
                self._take_over(self._session)  # type: ignore[arg-type]
            batch = list(items)
            if batch:
                self._hand_over(batch)

    # -- the end ------------------------------------------------------------------------------
    def finish(self, session: Session, timeout: float) -> list[SenderState]:
        """Hand over the final session; never wait past ``timeout`` (+ grace).

        Held from here on, the feeding lock keeps a late hand-over from following "finish".
        """
        ends = time.monotonic() + timeout
        fed = self._feeding.acquire(blocking=False) and self._started
        return self._final_states(session, ends, fed)

    def _final_states(self, session: Session, ends: float, fed: bool) -> list[SenderState]:
        if self._takeover is None and self._dead is None and fed:
            self._send(("finish", session, max(0.0, ends - time.monotonic())), close=True)
        if self._takeover is None and self._takeover_error is None:
            try:
                reply = self._replies.get(timeout=max(0.0, ends - time.monotonic()) + REPORT_GRACE)
            except queue.Empty:
                reply = ("failed", "the delivery process did not report back before the deadline")
            if reply[0] == "done":
                self._reap()
                self._ledger.clear()
                return list(reply[1])
            self._mark_dead(reply[1])
            self._take_over(session)
        if self._takeover is None:
            return self._failed_states(str(self._takeover_error))
        # What is left gets at least a moment: the child's failure may have used the deadline.
        return self._takeover.finish(session, max(ends - time.monotonic(), REPORT_GRACE))

    def _reap(self) -> None:
        """The child exits right after its report; collect it, so it is not left a zombie."""
        assert self._proc is not None
        # Still tearing down after REAP_WAIT: it exits on its own, nothing waits on it.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(REAP_WAIT)

    def _failed_states(self, reason: str) -> list[SenderState]:
        """The last resort, when even taking over failed: say what may be missing."""
        handed = self._ledger.handed
        states = []
        for target in self.targets:
            state = SenderState(target.name, unknown=handed, spool_path=self.settings.spool_path)
            state.errors.append(f"{reason}; any of this run's {handed} results may be missing "
                                "on the target")  # fmt: skip
            states.append(state)
        return states

    # -- handing over -------------------------------------------------------------------------
    def _hand_over(self, batch: list[Union[TestResult, TestStart]]) -> None:
        if self._takeover is not None:
            self._takeover.submit_items(batch)
            return
        first, data = self._ledger.add(batch)  # kept before sending: the child may die any time
        if self._dead is None:  # the counts let an orphaned child close the session right
            self._send(("items", first, data, counts(self._session)))  # type: ignore[arg-type]

    def _send(self, message: Any, close: bool = False) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            write_frame(self._proc.stdin, message)
            if close:
                self._proc.stdin.close()
        except (OSError, ValueError) as exc:  # the child is gone
            self._mark_dead(f"the delivery process stopped taking results ({exc})")

    # -- the child ----------------------------------------------------------------------------
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
        self._listener = threading.Thread(
            target=self._listen, name="testreport-listener", daemon=True
        )
        self._listener.start()

    def _spawn(self, session: Session) -> Optional[str]:
        """Give the child its start and wait until it is ready; the reason when it is not."""
        self.launch()
        if self._launch_error is not None:
            return self._launch_error
        self._send(("start", self.settings, session))  # a failure shows as the listener's reply
        # A child that died answers through the listener (with its exit code) soon enough.
        self._ready.wait(READY_WAIT)
        if self._was_ready or self._dead is not None:
            return None  # a child that died (even before "ready") is taken over like any other
        return f"the delivery process was not ready after {READY_WAIT:.0f} s"

    def _listen(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while True:
            try:
                reply = read_frame(self._proc.stdout)
            except Exception as exc:  # a truncated or garbled answer: say so, never crash
                reply = ("failed", f"unreadable answer from the delivery process: {exc}")
            if reply is None:
                code = self._proc.wait()
                self._exit = f"the delivery process exited unexpectedly (exit code {code})"
                reply = ("failed", self._exit)
            kind = reply[0]
            if kind == "ready":
                self._was_ready = True
                self._ready.set()
            elif kind == "ack":
                self._ledger.acknowledge(reply[1], reply[2])
            elif kind == "opened":
                self._facts.opened[reply[1]] = reply[2]
            elif kind == "closed":
                self._facts.closed[reply[1]] = reply[2]
            else:  # "done" or "failed": its last word
                if kind == "failed" and reply[1] != self._exit:
                    self._child_said = reply[1]
                self._replies.put(reply)
                if kind == "failed":
                    self._mark_dead(reply[1])
                self._ready.set()  # a failure ends the wait for readiness too
                return

    def _mark_dead(self, reason: str) -> None:
        if self._dead is None:
            self._dead = reason  # the feeder's next look (0.1 s at most) takes over

    def _take_over(self, session: Session) -> None:
        """The child is gone (or stopped): deliver from here what it has not confirmed."""
        with self._takeover_lock:
            if self._takeover is not None or self._takeover_error is not None:
                return
            self._stop_child()
            reason = f"{self._why()}; delivered from the pytest process instead"
            try:
                self._takeover = Takeover(self.targets, self.settings.spool_path, session,
                                          self._ledger, self._facts, reason,
                                          content_secrets(self.settings))  # fmt: skip
            except Exception as exc:  # a bug of ours: report what may be missing
                self._takeover_error = f"{self._why()}; taking over failed: {exc!r}"

    def _stop_child(self) -> None:
        """Make sure the child is gone, and read everything it said before it went."""
        if self._proc is None:
            return
        listener = self._listener
        if listener is not None:
            listener.join(LISTENER_WAIT)
        if self._proc.poll() is None:  # alive but of no use (hung, garbled): stop it
            self._killed = True
            self._proc.kill()
        if listener is not None:
            listener.join(LISTENER_WAIT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(REAP_WAIT)

    def _why(self) -> str:
        """The best account of the child's end: its own words, its exit, or what we saw."""
        if self._child_said is not None:
            return self._child_said
        if self._exit is not None and not self._killed:
            return self._exit
        return self._dead or "the delivery process stopped"
