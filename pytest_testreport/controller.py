"""The controller role: the process that sees every report (single process or xdist controller).

It owns the session and the feeder (feeder.py), which reads reports into results (reports.py),
counts them, and hands them to delivery (engine/delivery.py). Loaded only when reporting is on.
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
from .config import Settings
from .engine import SenderState, Target
from .engine.delivery import open_delivery
from .engine.scrub import content_secrets
from .engine.secrets import mask
from .feeder import Feeder, ReportReader
from .model import Session
from .quarantine import quarantined
from .report import job_summary
from .reports import ResultAssembler


class Controller:
    """Owns the session: every report becomes a result, queued for every target."""

    def __init__(self, config: pytest.Config, settings: Settings, targets: list[Target]) -> None:
        self.config = config
        self.settings = settings
        self.targets = targets
        content_secrets(settings)  # makes ``mask`` know them, for the terminal summary
        self.delivery = open_delivery(settings, targets)
        self.session = Session()
        self.interruption: Optional[str] = None
        self.states: list[SenderState] = []
        self.notes = job_summary.notes_for(settings)  # None when no CI summary is written
        self._finished = False
        self.read = ReportReader(
            ResultAssembler(settings.capture, quarantined(config)),
            live_starts=self.delivery.wants_starts,
            on_result=lambda result: config.hook.pytest_testreport_result(result=result),
        )
        self.feeder = Feeder(self.delivery, self.read, self.notes)
        # How the test's thread hands a report over; chosen at the first test (``_choose``).
        self._take: Optional[Callable[[Any], None]] = None
        self._previous_sigterm: Any = None
        self._planned = False  # xdist: the first worker's count was passed on

    @property
    def handed(self) -> int:
        """Results handed to delivery: each must end delivered, spooled or lost."""
        return self.feeder.handed

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
        self.feeder.start(self.session)
        self._install_sigterm()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The collected count, for targets that choose how to send by it (BrowserStack)."""
        if not self._xdist_controller(session):
            self.feeder.plan(len(session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist the controller collects nothing: the first worker's count (each
        worker collects the whole suite)."""
        if not self._planned:
            self._planned = True
            self.feeder.plan(len(ids))

    def _xdist_controller(self, session: pytest.Session) -> bool:
        return session.config.pluginmanager.has_plugin("dsession")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # only failed collections become results
            # Before the first test, conftests may still add a result hook: read it here.
            (self._take or self._take_here)(report)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        take = self._take
        if take is None:  # decided at the first test: every conftest is loaded
            take = self._take = self._choose()
        take(report)

    def _choose(self) -> Callable[[Any], None]:
        """The one switch: where reports are read.

        On the feeder's thread (the test's thread only appends), unless a user implements
        ``pytest_testreport_result``: user hooks may not be thread-safe, so they run on the
        test's thread, and the report is read there.
        """
        if self.config.hook.pytest_testreport_result.get_hookimpls():
            return self._take_here
        return self.feeder.put

    def _take_here(self, report: Any) -> None:
        """Read on the test's thread (running the result hook); the feeder counts and hands on."""
        self.feeder.put(self.read(report, run_hook=True))

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
        if self.settings.strict and self._incomplete() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _finish(self, interruption: Optional[str], timeout: float) -> None:
        if self._finished:
            return
        self._finished = True
        self._restore_sigterm()
        ends = time.monotonic() + timeout
        self.feeder.drain(timeout)  # every report read and counted before the session closes
        self.session.finish(interruption)
        self.states = self.delivery.finish(self.session, max(0.0, ends - time.monotonic()))
        for state in self.states:
            if self.feeder.error is not None:
                state.errors.insert(0, self.feeder.error)
            account(state, self.handed)
        # Here, not in sessionfinish: a cancelled job (SIGTERM) gets its summary too.
        job_summary.publish(self.settings, self.session, self.states, self.notes)

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
