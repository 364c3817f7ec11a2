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
    for marker in item.iter_markers():
        if marker.name == "testreport_metadata":
            metadata.extend((str(k), str(v)) for k, v in marker.kwargs.items())
        elif marker.name == "execution_tag":  # Buildkite's collector: execution_tag(key, value)
            args = [
                *marker.args,
                *(marker.kwargs[k] for k in ("key", "value") if k in marker.kwargs),
            ]
            if len(args) == 2:
                metadata.append((f"execution_tag:{args[0]}", str(args[1])))
        elif marker.name not in RUN_MARKERS and marker.name not in tags:
            tags.append(marker.name)
    return tags, metadata


class Details:
    """Fixture runs and log records of the running test, per phase.

    Registered only when reporting is on, so that a run that reports nothing pays for none
    of these hooks.
    """

    def __init__(self) -> None:
        self._active = False
        self._fixtures: list[dict[str, Any]] = []  # this phase's fixture setups/finalizations
        self._teardown_code: dict[int, Any] = {}  # record id -> the fixture's code (errors)
        self._phase_start = 0.0
        self._last_end: Optional[float] = None
        self._log_records: Optional[list[Any]] = None

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Any:
        self._active = True
        self._fixtures, self._teardown_code = [], {}
        try:
            yield
        finally:
            self._active = False
            self._fixtures, self._teardown_code = [], {}

    # -- phases: their start (for finalizer times) and their captured log records -----------
    def _phase(self, item: pytest.Item, when: str) -> Any:
        self._phase_start = time.time()
        self._last_end = None
        self._log_records = None
        try:
            from _pytest.logging import caplog_records_key

            # The logging plugin's wrapper (outside ours) has set this phase's list; it
            # deletes the stash after teardown, before the report is made.
            self._log_records = item.stash[caplog_records_key][when]
        except Exception:  # the logging plugin is disabled, or pytest changed
            self._log_records = None
        yield

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Any:
        yield from self._phase(item, "setup")

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        yield from self._phase(item, "call")

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Any:
        yield from self._phase(item, "teardown")

    # -- fixtures ---------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Any:
        if not self._active:
            yield
            return
        start = time.time()
        outcome = yield
        stop = time.time()
        record: dict[str, Any] = {"name": str(fixturedef.argname), "scope": str(fixturedef.scope),
                                  "phase": "setup", "start": start, "stop": stop,
                                  "failure": None}  # fmt: skip
        excinfo = outcome.excinfo
        if excinfo is not None and isinstance(excinfo[1], Exception):
            error = excinfo[1]
            record["failure"] = truncate(f"{type(error).__name__}: {error}", MAX_FIXTURE_FAILURE)
        self._fixtures.append(record)

    @pytest.hookimpl
    def pytest_fixture_post_finalizer(self, fixturedef: Any, request: Any) -> None:
        if not self._active:
            return
        stop = time.time()
        start = self._last_end if self._last_end is not None else self._phase_start
        self._last_end = stop
        record: dict[str, Any] = {"name": str(fixturedef.argname), "scope": str(fixturedef.scope),
                                  "phase": "teardown", "start": min(start, stop), "stop": stop,
                                  "failure": None}  # fmt: skip
        code = getattr(getattr(fixturedef, "func", None), "__code__", None)
        if code is not None:
            self._teardown_code[id(record)] = code
        self._fixtures.append(record)

    def _teardown_failures(self, fixtures: list[dict[str, Any]], error: BaseException) -> None:
        """Name the finalized fixture(s) whose code raised ``error`` (or one of a group)."""
        errors = [error, *getattr(error, "exceptions", ())]
        for exc in errors:
            codes = set()
            tb = exc.__traceback__
            while tb is not None:
                codes.add(tb.tb_frame.f_code)
                tb = tb.tb_next
            for record in fixtures:
                if record["failure"] is None and self._teardown_code.get(id(record)) in codes:
                    text = f"{type(exc).__name__}: {exc}"
                    record["failure"] = truncate(text, MAX_FIXTURE_FAILURE)

    def _logs(self) -> list[list[Any]]:
        records, self._log_records = self._log_records or [], None
        out = []
        for record in records[:MAX_LOG_RECORDS]:
            try:
                message = record.getMessage()
            except Exception as error:  # a bad format string must not break the report
                message = f"{record.msg!r} (unformattable: {error})"
            out.append([float(record.created), str(record.levelname),
                        truncate(message, MAX_LOG_MESSAGE)])  # fmt: skip
        return out

    def take(self, call: pytest.CallInfo[Any]) -> dict[str, Any]:
        """This phase's fixture runs and log records, as plain data for the report."""
        fixtures, self._fixtures = self._fixtures, []
        extra: dict[str, Any] = {}
        if fixtures:
            if call.excinfo is not None and call.when != "setup":
                self._teardown_failures(fixtures, call.excinfo.value)
            for record in fixtures:
                self._teardown_code.pop(id(record), None)
            extra["fixtures"] = fixtures
        logs = self._logs()
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

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Any:
        recorder.begin()
        try:
            yield
        finally:
            recorder.end()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        outcome = yield
        report = outcome.get_result()
        steps, metadata = recorder.drain()
        if self.details is None:
            return
        extra = self.details.take(call)
        if call.when == "setup":
            tags, marker_metadata = _markers(item)
            metadata = marker_metadata + metadata
            if tags:
                extra["tags"] = tags
        if steps:
            extra["steps"] = steps
        if metadata:
            extra["metadata"] = [list(kv) for kv in metadata]
        if extra:
            setattr(report, EXTRA_ATTR, extra)
