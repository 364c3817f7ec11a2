"""The controller role: the process that sees every report (single process or xdist controller).

It owns the session, turns reports into results (reports.py) and hands them to the engine.
Loaded only when reporting is on.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import threading
import time
from typing import Any, Callable, Optional

import pytest

from . import __version__
from .api import EXTRA_ATTR
from .config import Settings
from .engine import Engine, SenderState, Target
from .engine.process import DeliveryProcess
from .engine.scrub import content_secrets
from .engine.secrets import mask
from .model import Session, TestResult, TestStart
from .quarantine import quarantined
from .report import job_summary
from .reports import ResultAssembler


class Controller:
    """Owns the session: every report becomes a result, queued for every target."""

    def __init__(self, config: pytest.Config, settings: Settings, targets: list[Target]) -> None:
        self.config = config
        self.settings = settings
        self.targets = targets
        self.assembler = ResultAssembler(settings.capture, quarantined(config))
        secrets = content_secrets(settings)  # also known to ``mask`` for the terminal summary
        self.engine: Engine | DeliveryProcess = (
            Engine(targets, settings.spool_path, secrets)
            if settings.delivery == "thread"
            else DeliveryProcess(settings, targets)
        )
        self.session = Session()
        self.interruption: Optional[str] = None
        self.states: list[SenderState] = []
        self.notes = job_summary.notes_for(settings)  # None when no CI summary is written
        self._finished = False
        self._live_starts = self.engine.wants_starts
        self._deferred: Optional[bool] = None  # reports read on the delivery feeder thread
        self._submit: Optional[Callable[[Any], None]] = None  # set when ``_deferred``
        self._handed = 0  # results handed to delivery: each must end delivered, spooled or lost
        if isinstance(self.engine, DeliveryProcess):
            self.engine.intake = self._intake
            self.engine.launch()
        self._previous_sigterm: Any = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        settings = self.settings
        self.session = Session(
            ci=settings.ci(),
            rootdir=str(settings.rootdir),
            args=[str(a) for a in self.config.invocation_params.args],
            hostname=socket.gethostname(),
            python_version=platform.python_version(),
            pytest_version=pytest.__version__,
            plugin_version=__version__,
        )
        self.config.hook.pytest_testreport_session(session=self.session)
        self.engine.start(self.session)
        self._install_sigterm()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # only failed collections become results
            self._take(report)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        submit = self._submit
        if submit is not None:  # the test's thread: one deque append, nothing else
            submit(report)
            return
        if self._deferred is None:  # decided at the first test: every conftest is loaded
            self._deferred = isinstance(self.engine, DeliveryProcess) and not (
                self.config.hook.pytest_testreport_result.get_hookimpls()
            )
            if self._deferred:
                self._submit = self.engine.submit_report  # type: ignore[union-attr]
        self._take(report)

    def _take(self, report: Any) -> None:
        if self._deferred:
            # The delivery process's feeder thread reads the report (``_intake``): work off
            # the test's thread is free whenever a test sleeps or waits on I/O.
            self.engine.submit_report(report)  # type: ignore[union-attr]
            return
        self.engine.submit_items(self._intake(report, run_hook=True))

    def _intake(self, report: Any, run_hook: bool = False) -> list[TestResult | TestStart]:
        """A report's completed results (counted) and, for live-start targets, its start.

        Our data comes off the report once read: pytest keeps every report until the end,
        and the data (fixture runs, logs, steps) would grow memory with the suite's size.
        """
        try:
            if isinstance(report, pytest.CollectReport):
                failed = self.assembler.add_collect_report(report)
                results = [failed] if failed is not None else []
            else:
                results = self.assembler.add(report)
            for result in results:
                if run_hook:
                    self.config.hook.pytest_testreport_result(result=result)
                self.session.count(result)
                if self.notes is not None:
                    self.notes.add(result)
            self._handed += len(results)
            items: list[TestResult | TestStart] = list(results)
            if self._live_starts and report.when == "setup":  # the test has started
                start = self.assembler.started(report.nodeid)
                if start is not None:
                    items.append(start)
            return items
        finally:
            vars(report).pop(EXTRA_ATTR, None)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        detail = str(excinfo.value).strip()
        if excinfo.typename == "Interrupted":  # pytest's own stop, e.g. collection errors
            self.interruption = f"interrupted: {detail}"
        else:
            self.interruption = f"interrupted: {excinfo.typename}" + (
                f": {detail}" if detail else ""
            )

    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        crash = getattr(getattr(excrepr, "reprcrash", None), "message", None) or str(excrepr)
        self.interruption = f"internal error: {crash.splitlines()[-1] if crash else ''}".strip()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interruption = self.interruption
        if interruption is None and (session.shouldstop or session.shouldfail):
            interruption = f"stopped early: {session.shouldstop or session.shouldfail}"
        if interruption is None and exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            interruption = "internal error"
        self._finish(interruption, self.settings.flush_timeout)
        job_summary.publish(self.settings, self.session, self.states, self.notes)
        if self.settings.strict and self._incomplete() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _finish(self, interruption: Optional[str], timeout: float) -> None:
        if self._finished:
            return
        self._finished = True
        self._restore_sigterm()
        ends = time.monotonic() + timeout
        self.engine.drain(timeout)  # every report read and counted before the session closes
        self.session.finish(interruption)
        self.states = self.engine.finish(self.session, max(0.0, ends - time.monotonic()))
        for state in self.states:
            account(state, self._handed)

    def _incomplete(self) -> bool:
        """Anything lost, spooled or of unknown fate, or a session left open: strict fails."""
        return any(s.undelivered or not s.closed for s in self.states)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from .targets.remote import tls_notices

        for line in tls_notices(self.settings, self.targets):  # seen even if warnings are off
            terminalreporter.write_line(line)
        for state in self.states:
            for line in summary_lines(state):
                terminalreporter.write_line(mask(line))
        if self.settings.strict and self._incomplete():
            terminalreporter.write_line("testreport: --testreport-strict: exit status set to 1")

    # -- SIGTERM: a cancelled CI job still closes its session --------------------------------
    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        previous = self._previous_sigterm
        self._finish("terminated: SIGTERM", min(self.settings.flush_timeout, SIGTERM_FLUSH))
        if callable(previous):
            previous(signum, frame)
        else:  # die of the signal as we would have without the plugin
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


SIGTERM_FLUSH = 5.0


def account(state: SenderState, handed: int) -> None:
    """A result the target's report does not account for was lost: count it, never hide it."""
    missing = handed - state.delivered - state.undelivered
    if missing > 0:
        state.lost += missing
        state.errors.append(f"{missing} results unaccounted for (an internal error)")


def summary_lines(state: SenderState) -> list[str]:
    """What the terminal says about one target at the end of the run."""
    prefix = f"testreport {state.target}:"
    lines = [f"{prefix} {error}" for error in state.errors]
    if state.closed and not state.undelivered:
        line = f"{prefix} {state.summary}"
        return [*lines, line + (f" — {state.link}" if state.link else "")]
    if state.spooled or state.close_spooled:
        lines.append(f"{prefix} {state.spooled_text()} to {state.spool_path}")
        lines.append(f"{prefix} deliver them later with: pytest-testreport replay --target "
                     f"{state.target}")  # fmt: skip
    if state.lost:
        total = state.delivered + state.undelivered
        lines.append(f"{prefix} {state.lost} of {total} results lost (neither delivered nor "
                     "spooled)")  # fmt: skip
    if state.unknown:
        lines.append(f"{prefix} {state.unknown} results may be missing on the target")
    return lines or [f"{prefix} not delivered"]
