"""``--testreport-quarantine=SOURCE``: known-flaky tests run, are reported, and do not fail the run.

A quarantined test runs and is reported with its real outcome and the tag ``quarantined``
on every target (reports.py adds it). When every failure of the run is a quarantined test's,
the exit status goes from 1 to 0; anything else (another failure, an error in collection,
a run stopped by ``-x`` or ``--maxfail``) leaves it alone. This is the one deliberate
exception to "reporting never changes the exit status", and it is off unless asked for.
A source that cannot be read quarantines nothing, and says so (fail open).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Optional

import pytest

from .config import Settings

TAG = "quarantined"
PLUGIN_NAME = "testreport-quarantine"


class Quarantine:
    """The quarantined node ids, the failures seen among them, and the exit status rule."""

    def __init__(self, nodeids: Iterable[str], message: str, problem: bool = False) -> None:
        self.nodeids = frozenset(nodeids)
        self.message = message
        self.problem = problem  # the source could not be read
        self.failed: dict[str, str] = {}  # quarantined node id -> its first failure's message
        self.failed_reports = 0  # as pytest counts them (session.testsfailed)
        self.other_failures = 0

    def covers(self, nodeid: str) -> bool:
        """The node id, or a file or class that holds it (``path::Class``), is quarantined."""
        if nodeid in self.nodeids:
            return True
        base = nodeid.split("[", 1)[0]
        while "::" in base:
            base = base.rsplit("::", 1)[0]
            if base in self.nodeids:
                return True
        return False

    def pytest_report_header(self) -> str:
        return self.message

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.failed or hasattr(report, "wasxfail"):  # as pytest counts failures
            return
        if self.covers(report.nodeid):
            self.failed_reports += 1
            self.failed.setdefault(report.nodeid, _message(report))
        else:
            self.other_failures += 1

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.other_failures += 1

    # Not trylast: pytest has set the exit status before this hook, and the controller's
    # --testreport-strict check (trylast) must come after this and may set 1 again.
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.forgives(session):
            session.exitstatus = pytest.ExitCode.OK

    def forgives(self, session: pytest.Session) -> bool:
        """Only failures of quarantined tests made the run fail, and the run was complete."""
        return (
            session.exitstatus == pytest.ExitCode.TESTS_FAILED
            and self.failed_reports > 0
            and self.other_failures == 0
            and self.failed_reports == session.testsfailed
            and not session.shouldfail
            and not session.shouldstop
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.problem:
            terminalreporter.write_line(self.message)
        if not self.failed:
            return
        terminalreporter.write_sep("=", f"{len(self.failed)} quarantined failed", yellow=True)
        for nodeid, message in self.failed.items():
            terminalreporter.write_line(f"QUARANTINED {nodeid}" + (f" - {message}" * bool(message)))
        if self.other_failures:
            terminalreporter.write_line("testreport: other tests failed too: the run fails")
        else:
            terminalreporter.write_line(
                "testreport: only quarantined tests failed: they do not fail the run"
            )


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or ""
    return text.splitlines()[0][:200] if text else ""


def load_quarantine(settings: Settings) -> Quarantine:
    """Read the source once, at start-up, in the process that sees every report."""
    from .quarantine_sources import SourceUnreadable, read_source

    source = settings.quarantine
    try:
        nodeids, where = read_source(settings, source)
    except SourceUnreadable as exc:
        return Quarantine((), f"testreport: quarantine: {exc}; nothing is quarantined", True)
    return Quarantine(nodeids, f"testreport: quarantine: {len(nodeids)} tests ({where})")


def quarantined(config: pytest.Config) -> Optional[Callable[[str], bool]]:
    """Whether a node id is quarantined, for the result assembler; None without quarantine."""
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return plugin.covers if plugin is not None else None
