"""Turn pytest's phase reports into one ``TestResult`` per test attempt.

pytest reports a test in up to three phases (setup, call, teardown); pytest-rerunfailures
repeats them per attempt and marks a retried phase ``rerun``; xdist replays worker reports in
the controller and reports a crashed worker's test once with phase ``???``. This module is
pure: it never touches pytest's config or does I/O, so it behaves the same everywhere.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import pytest

from .api import EXTRA_ATTR
from .failures import MAX_TRACEBACK_LINES, SUBTEST
from .model import (
    Failure,
    FixtureRun,
    LogEntry,
    Outcome,
    ResultKind,
    Step,
    TestId,
    TestResult,
    TestStart,
    from_epoch,
    new_id,
)
from .text import truncate, truncate_lines

MAX_LINE_CHARS = 2000
MAX_MESSAGE_CHARS = 2000
MAX_CAPTURE_CHARS = 64 * 1024
CRASH_PHASE = "???"

# Enum members bound once: looking one up on its class costs more than the rest of a line.
PASSED, FAILED, ERROR = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR

# pytest < 8 prefixes the reason of an imperative xfail (``pytest.xfail(...)``, and so
# ``xfail(run=False)``) with "reason: "; pytest 8 dropped it. Strip it there, as pytest
# 7.4's own junitxml does, so that every pytest version records the same reason.
_XFAIL_PREFIX = "reason: " if int(pytest.__version__.split(".")[0]) < 8 else ""


class _Pending:
    """What has been seen so far of one attempt of one test.

    A plain class with slots, not a dataclass: one is made per test on the test's thread,
    and this builds in about half the time.
    """

    __slots__ = ("attempt", "durations", "failures", "fixtures", "logs", "metadata", "nodeid",
                 "outcome", "reason", "rerun", "sections", "started", "steps", "stopped",
                 "subtest_failures", "tags", "test", "uuid", "worker")  # fmt: skip

    def __init__(self, nodeid: str, test: TestId, started: float):
        self.nodeid = nodeid
        self.test = test
        self.started = started
        self.uuid: str = new_id()
        self.stopped = 0.0
        self.worker: Optional[str] = None
        self.outcome: Optional[Outcome] = None
        self.reason: Optional[str] = None
        self.failures: list[Failure] = []  # the failing phases, in order
        self.rerun = False
        self.attempt: Optional[int] = None
        self.durations: dict[str, float] = {}
        self.sections: list[tuple[str, str]] = []
        self.steps: list[dict[str, Any]] = []
        self.fixtures: list[dict[str, Any]] = []
        self.logs: list[list[Any]] = []
        self.metadata: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self.subtest_failures: list[Failure] = []


def _skip_reason(longrepr: Any) -> Optional[str]:
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason
    return str(longrepr) if longrepr else None


def _xfail_reason(wasxfail: str) -> Optional[str]:
    if _XFAIL_PREFIX and wasxfail.startswith(_XFAIL_PREFIX):
        wasxfail = wasxfail[len(_XFAIL_PREFIX) :]
    return wasxfail or None


def failure_from_report(report: Any, phase: str) -> Failure:
    """The failure of a failed phase: the crash line as message, the rendered traceback as lines."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = report.longreprtext if longrepr is not None else ""
    if crash is not None and getattr(crash, "message", None):
        message = crash.message
    else:
        message = next((line for line in reversed(text.splitlines()) if line.strip()), "")
        if message.startswith("E   "):
            message = message[4:].strip()
    lines = [truncate(line, MAX_LINE_CHARS) for line in text.splitlines()]
    return Failure(
        message=truncate(message, MAX_MESSAGE_CHARS),
        phase=phase,
        traceback=truncate_lines(lines, MAX_TRACEBACK_LINES),
    )


def _worker_id(report: Any) -> Optional[str]:
    node = getattr(report, "node", None)  # xdist's controller sets it on replayed reports
    if node is not None:
        worker = getattr(getattr(node, "gateway", None), "id", None)
        if worker:
            return worker
    return getattr(report, "worker_id", None)


def _is_subtest(report: Any) -> bool:
    # The class name first: it is the cheap test, and false for nearly every report.
    return type(report).__name__ == "SubtestReport" and getattr(report, "context", None) is not None


class ResultAssembler:
    """Collects phase reports per test and yields a ``TestResult`` when an attempt ends.

    Memory stays proportional to the tests running right now, plus the node ids of tests
    that were retried (to number their attempts when the rerun plugin does not).
    """

    def __init__(self, capture: str = "failed",
                 quarantined: Optional[Callable[[str], bool]] = None) -> None:  # fmt: skip
        self._quarantined = quarantined  # tags those tests ``quarantined`` (quarantine.py)
        self._keep_all, self._keep_failed = capture == "all", capture == "failed"
        self._open: dict[str, _Pending] = {}
        self._attempts: dict[str, int] = {}
        self._collection_errors: set[str] = set()

    # -- test phases -----------------------------------------------------------------------
    def add(self, report: Any) -> list[TestResult]:
        """Feed one ``pytest_runtest_logreport`` report; returns the attempts it completed."""
        done: list[TestResult] = []
        nodeid, when = report.nodeid, report.when  # properties in some pytest versions
        pending = self._open.get(nodeid)
        if pending is not None and when == "setup" and pending.durations:
            # A new attempt began without a teardown report for the previous one (older
            # rerun plugins skip it): the previous attempt is over.
            done.append(self._finish(self._open.pop(nodeid)))
            pending = None
        if pending is None:
            pending = self._open[nodeid] = self._start(report, nodeid)
        self._apply(pending, report, when)
        if when == "teardown" or when == CRASH_PHASE:
            done.append(self._finish(self._open.pop(nodeid)))
        return done

    def started(self, nodeid: str) -> Optional[TestStart]:
        """The attempt of ``nodeid`` whose setup was just reported, for live-start targets."""
        pending = self._open.get(nodeid)
        if pending is None:
            return None
        return TestStart(
            uuid=pending.uuid,
            test=pending.test,
            started_at=from_epoch(pending.started),
            attempt=pending.attempt or self._attempts.get(nodeid, 0) + 1,
            tags=list(pending.tags),
            metadata=list(pending.metadata),
        )

    def _start(self, report: Any, nodeid: str) -> _Pending:
        location = report.location
        location = tuple(location) if location else (nodeid, None, "")
        start = getattr(report, "start", 0) or time.time()
        pending = _Pending(nodeid, TestId.of(nodeid, location), start)
        if self._quarantined is not None and self._quarantined(nodeid):
            pending.tags.append("quarantined")  # every target maps the result's tags
        return pending

    def _apply(self, pending: _Pending, report: Any, when: str) -> None:
        if not pending.worker:
            pending.worker = _worker_id(report)
        pending.stopped = getattr(report, "stop", 0) or time.time()
        rerun = getattr(report, "rerun", None)
        if isinstance(rerun, int):
            pending.attempt = rerun + 1
        extra = getattr(report, EXTRA_ATTR, None)
        if extra:
            if "steps" in extra:
                pending.steps.extend(extra["steps"])
            if "fixtures" in extra:
                pending.fixtures.extend(extra["fixtures"])
            if "logs" in extra:
                pending.logs.extend(extra["logs"])
            if "metadata" in extra:
                pending.metadata.extend(tuple(kv) for kv in extra["metadata"])
            if "tags" in extra:
                pending.tags.extend(t for t in extra["tags"] if t not in pending.tags)
        if _is_subtest(report):
            if report.failed:
                failure = failure_from_report(report, SUBTEST)
                context = report.context
                label = " ".join(
                    [f"[{context.msg}]" if context.msg else ""]
                    + [f"{k}={v}" for k, v in (context.kwargs or {}).items()]
                ).strip()
                failure.message = f"subtest {label}: {failure.message}".strip()
                pending.subtest_failures.append(failure)
            return
        pending.durations[when if when != CRASH_PHASE else "crash"] = report.duration or 0.0
        sections = report.sections
        if sections:
            pending.sections = list(sections)
        self._classify(pending, report, when)

    def _classify(self, pending: _Pending, report: Any, when: str) -> None:
        outcome = report.outcome
        if outcome == "rerun":
            pending.rerun = True
            outcome = "failed"
        if outcome == "passed":
            if when == "call":
                wasxfail = getattr(report, "wasxfail", None)
                if wasxfail is not None:
                    pending.outcome, pending.reason = Outcome.XPASSED, wasxfail or None
                else:
                    pending.outcome = PASSED
            return
        if outcome == "skipped":
            wasxfail = getattr(report, "wasxfail", None)
            if wasxfail is not None:
                pending.outcome, pending.reason = Outcome.XFAILED, _xfail_reason(wasxfail)
            elif pending.outcome is None or pending.outcome is Outcome.PASSED:
                pending.outcome, pending.reason = Outcome.SKIPPED, _skip_reason(report.longrepr)
            return
        # A failed phase.
        failure = failure_from_report(report, "crash" if when == CRASH_PHASE else when)
        if when == "call":
            pending.outcome, pending.failures = Outcome.FAILED, [failure]
        elif pending.failures and pending.outcome in (Outcome.FAILED, Outcome.ERROR):
            # A teardown error after a call failure keeps "failed"; after an error, "error".
            pending.failures.append(failure)
        else:
            pending.outcome, pending.failures = Outcome.ERROR, [failure]

    def _finish(self, pending: _Pending) -> TestResult:
        outcome = pending.outcome or PASSED
        failures = pending.failures
        if pending.subtest_failures and outcome is not ERROR:
            # Subtests ran in the call, before its report; an error outcome keeps its phases only.
            failures = [*pending.subtest_failures, *failures]
            outcome = Outcome.FAILED
        attempt = pending.attempt or self._attempts.get(pending.nodeid, 0) + 1
        if pending.rerun or attempt > 1:
            self._attempts[pending.nodeid] = attempt
        keep_output = self._keep_all or (
            self._keep_failed and (outcome is FAILED or outcome is ERROR)
        )
        stdout = stderr = log = ""
        if keep_output and pending.sections:
            stdout = _section_text(pending.sections, "stdout")
            stderr = _section_text(pending.sections, "stderr")
            log = _section_text(pending.sections, "log")
        # The joined failure's phase is its first failing phase's.
        head = next((f.phase for f in failures if f.phase != SUBTEST), None)
        return TestResult(
            uuid=pending.uuid,
            test=pending.test,
            kind=ResultKind.CRASH if head == "crash" else ResultKind.TEST,
            outcome=outcome,
            reason=pending.reason,
            failures=failures,
            durations=pending.durations,
            duration=sum(pending.durations.values()),
            started_at=from_epoch(pending.started),
            finished_at=from_epoch(max(pending.stopped, pending.started)),
            stdout=stdout,
            stderr=stderr,
            log=log,
            # Most tests have none of these: skip the comprehensions' cost then.
            steps=[_step(s) for s in pending.steps] if pending.steps else [],
            fixtures=[_fixture(f) for f in pending.fixtures] if pending.fixtures else [],
            logs=[_log(entry) for entry in pending.logs] if keep_output and pending.logs else [],
            metadata=pending.metadata,
            tags=pending.tags,
            attempt=attempt,
            final=not pending.rerun,
            worker=pending.worker,
        )

    # -- collection ------------------------------------------------------------------------
    def add_collect_report(self, report: Any) -> Optional[TestResult]:
        """A failed collection becomes one error result per file (once, whatever xdist does)."""
        if not report.failed or report.nodeid in self._collection_errors:
            return None
        self._collection_errors.add(report.nodeid)
        now = time.time()
        nodeid = report.nodeid or "<session>"
        return TestResult(
            test=TestId.of_file(nodeid),
            kind=ResultKind.COLLECTION_ERROR,
            outcome=Outcome.ERROR,
            failures=[failure_from_report(report, "collect")],
            started_at=from_epoch(now),
            finished_at=from_epoch(now),
            worker=_worker_id(report),
        )


def _section_text(sections: list[tuple[str, str]], kind: str) -> str:
    text = "".join(content for title, content in sections if title.startswith("Captured " + kind))
    return truncate(text, MAX_CAPTURE_CHARS)


def _step(data: dict[str, Any]) -> Step:
    return Step(
        id=data["id"],
        parent_id=data.get("parent_id"),
        keyword=data.get("keyword"),
        text=data["text"],
        started_at=from_epoch(data["start"]),
        finished_at=from_epoch(data["stop"]) if data.get("stop") else None,
        result=data.get("result", "passed"),
        failure=data.get("failure"),
    )


def _fixture(data: dict[str, Any]) -> FixtureRun:
    return FixtureRun(
        name=data["name"],
        scope=data.get("scope") or "function",
        phase="teardown" if data.get("phase") == "teardown" else "setup",
        started_at=from_epoch(data["start"]),
        finished_at=from_epoch(max(data["stop"], data["start"])),
        failure=data.get("failure"),
    )


def _log(entry: list[Any]) -> LogEntry:
    created, level, message = entry
    return LogEntry(timestamp=from_epoch(created), level=str(level), message=str(message))
