"""The runner role: where tests run (the single process, or each xdist worker).

It records the author's steps and metadata and attaches them to pytest's reports, so that
they reach the controller (controller.py) with the report itself. Workers never report.
This module stays light: it is loaded by every pytest run that has the plugin installed.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import pytest

from .api import EXTRA_ATTR, recorder
from .text import truncate

MAX_LOG_RECORDS = 500  # per phase
MAX_LOG_MESSAGE = 10_000
MAX_FIXTURE_FAILURE = 5000

# Markers that say how to run a test rather than what it is: not tags.
RUN_MARKERS = frozenset(
    {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings",
     "testreport_metadata", "execution_tag", "tryfirst", "trylast"}
)  # fmt: skip


def _markers(item: pytest.Item) -> tuple[list[str], list[tuple[str, str]]]:
    tags: list[str] = []
    metadata: list[tuple[str, str]] = []
    node: Any = item
    while node is not None:  # item.iter_markers(), nearest first, without its generators
        for marker in node.own_markers:
            name = marker.name
            if name == "testreport_metadata":
                metadata.extend((str(k), str(v)) for k, v in marker.kwargs.items())
            elif name == "execution_tag":  # Buildkite's collector: execution_tag(key, value)
                args = [
                    *marker.args,
                    *(marker.kwargs[k] for k in ("key", "value") if k in marker.kwargs),
                ]
                if len(args) == 2:
                    metadata.append((f"execution_tag:{args[0]}", str(args[1])))
            elif name not in RUN_MARKERS and name not in tags:
                tags.append(name)
        node = node.parent
    return tags, metadata


class Details:
    """Fixture runs and log records of the running test, per phase.

    Registered only when reporting is on, so that a run that reports nothing pays for none
    of these hooks. It has no phase hooks of its own: the phase's start comes with its
    ``CallInfo`` and the log records from the logging plugin's stash, read when the phase's
    report is made (``take``); ``Runner`` marks the test's start and end.
    """

    def __init__(self) -> None:
        self._active = False
        self._fixtures: list[dict[str, Any]] = []  # this phase's fixture setups/finalizations
        # This phase's finalizations, each with its fixture's code (to name a failing one).
        self._finalized: list[tuple[dict[str, Any], Any]] = []
        self._log_records: Optional[dict[str, list[Any]]] = None  # the test's, per phase
        try:
            from _pytest.logging import caplog_records_key
        except Exception:  # pytest changed: no log records, nothing breaks
            caplog_records_key = None
        self._records_key: Any = caplog_records_key

    def start(self) -> None:
        """A test's protocol begins (``stop`` left nothing behind)."""
        self._active = True

    def stop(self) -> None:
        """A test's protocol ended: forget what no phase report took."""
        self._active = False
        if self._fixtures:
            self._fixtures, self._finalized = [], []
        self._log_records = None

    # -- fixtures ---------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Any:
        __tracebackhide__ = True  # keep this frame out of the fixture's error report
        if not self._active:
            return (yield)
        failure = None
        start = time.time()
        try:
            return (yield)
        except Exception as error:
            failure = truncate(f"{type(error).__name__}: {error}", MAX_FIXTURE_FAILURE)
            raise
        finally:
            self._fixtures.append({"name": str(fixturedef.argname),
                                   "scope": str(fixturedef.scope), "phase": "setup",
                                   "start": start, "stop": time.time(),
                                   "failure": failure})  # fmt: skip

    @pytest.hookimpl
    def pytest_fixture_post_finalizer(self, fixturedef: Any, request: Any) -> None:
        if not self._active or fixturedef.cached_result is None:
            # pytest < 9 calls this hook again for a fixture already finished (once per
            # dependent fixture or requesting test that registered its ``finish``): only
            # the call that tears down a live fixture value is a teardown.
            return
        stop = time.time()
        # pytest reports only a finalization's end: it started when the previous one in the
        # phase ended, or with the phase (None here: ``take`` knows the phase's start).
        finalized = self._finalized
        start = min(finalized[-1][0]["stop"], stop) if finalized else None
        record: dict[str, Any] = {"name": str(fixturedef.argname), "scope": str(fixturedef.scope),
                                  "phase": "teardown", "start": start, "stop": stop,
                                  "failure": None}  # fmt: skip
        finalized.append((record, getattr(getattr(fixturedef, "func", None), "__code__", None)))
        self._fixtures.append(record)

    @staticmethod
    def _teardown_failures(
        finalized: list[tuple[dict[str, Any], Any]], error: BaseException
    ) -> None:
        """Name the finalized fixture(s) whose code raised ``error`` (or one of a group)."""
        errors = [error, *getattr(error, "exceptions", ())]
        for exc in errors:
            codes = set()
            tb = exc.__traceback__
            while tb is not None:
                codes.add(tb.tb_frame.f_code)
                tb = tb.tb_next
            for record, code in finalized:
                if record["failure"] is None and code is not None and code in codes:
                    text = f"{type(exc).__name__}: {exc}"
                    record["failure"] = truncate(text, MAX_FIXTURE_FAILURE)

    # -- log records ------------------------------------------------------------------------
    def _logs(self, item: pytest.Item, when: str) -> list[list[Any]]:
        """The phase's captured log records, as plain data (none when nothing was logged)."""
        phases = self._log_records
        if (when == "setup" or phases is None) and self._records_key is not None:
            # The logging plugin puts a new dict in the stash at each setup (a rerun's too)
            # and adds each phase's records to it; it deletes the stash after teardown,
            # before that report is made: keep the dict for the test's later phases.
            phases = self._log_records = item.stash.get(self._records_key, None)
        records = phases.get(when) if phases is not None else None
        if not records:
            return []
        out = []
        for record in records[:MAX_LOG_RECORDS]:
            try:
                message = record.getMessage()
            except Exception as error:  # a bad format string must not break the report
                message = f"{record.msg!r} (unformattable: {error})"
            out.append([float(record.created), str(record.levelname),
                        truncate(message, MAX_LOG_MESSAGE)])  # fmt: skip
        return out

    def take(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> dict[str, Any]:
        """This phase's fixture runs and log records, as plain data for the report."""
        extra: dict[str, Any] = {}
        fixtures = self._fixtures
        if fixtures:
            self._fixtures = []
            finalized, self._finalized = self._finalized, []
            if finalized:
                first = finalized[0][0]  # it started with the phase
                first["start"] = min(call.start, first["stop"])
                if call.excinfo is not None and call.when != "setup":
                    self._teardown_failures(finalized, call.excinfo.value)
            extra["fixtures"] = fixtures
        logs = self._logs(item, call.when)
        if logs:
            extra["logs"] = logs
        return extra


class Runner:
    """Records steps and metadata of the test running in this process.

    Registered wherever tests run, so that ``step()`` inside a test is never "outside a
    test"; the records are attached to reports only when reporting is on (``attach``),
    together with what ``Details`` recorded.
    """

    def __init__(self, attach: bool) -> None:
        self.details = Details() if attach else None

    # New-style wrappers (``wrapper=True``): pluggy runs them for about half the cost of
    # old-style ones, and these run several times per test.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Any:
        __tracebackhide__ = True
        details = self.details
        recorder.begin()
        if details is not None:
            details.start()
        try:
            return (yield)
        finally:
            recorder.end()
            if details is not None:
                details.stop()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        __tracebackhide__ = True
        report = yield
        steps, metadata = recorder.drain()
        if self.details is None:
            return report
        extra = self.details.take(item, call)
        if call.when == "setup":
            tags, marker_metadata = _markers(item)
            if marker_metadata:
                metadata = marker_metadata + metadata
            if tags:
                extra["tags"] = tags
        if steps:
            extra["steps"] = steps
        if metadata:
            extra["metadata"] = [list(kv) for kv in metadata]
        if extra:
            setattr(report, EXTRA_ATTR, extra)
        return report
