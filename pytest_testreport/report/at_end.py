"""The end of a run: the remote targets' delivery notes, and ``--testreport-html``.

Runs once, after the controller has closed the session (pytest calls the terminal summary after
every ``pytest_sessionfinish``), from the store: the report is never rebuilt per test. Without
a terminal (``-p no:terminal``) it runs at ``pytest_unconfigure`` instead. It never raises into
pytest: a report that cannot be written is one line in the summary.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from ..config import Settings
from . import DEFAULT_LAST, DEFAULT_OUTPUT

PREFIX = "testreport html:"


class AtEnd:
    """Registered when ``testreport_html`` is set, or when remote targets run beside local."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.done = False
        self.output: Optional[Path] = None  # the report written, for tests and callers

    @pytest.hookimpl(trylast=True)  # after the targets' own summary lines
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        self._once(terminalreporter.write_line)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._once(lambda line: print(line, file=sys.stderr))

    def _once(self, say: Callable[[str], None]) -> None:
        if self.done:
            return
        self.done = True
        try:
            self._run(say)
        except Exception as exc:  # a report must never break the run
            say(f"{PREFIX} not written: {type(exc).__name__}: {exc}")

    def _run(self, say: Callable[[str], None]) -> None:
        wanted = self.settings.html
        if "local" not in self.settings.targets:
            if wanted is not None:
                say(f"{PREFIX} not written: it is built from the local store, and the local "
                    "target is off; add it, e.g. --testreport=local (or local,buddy)")  # fmt: skip
            return
        controller = self.config.pluginmanager.get_plugin("testreport-controller")
        if controller is None:  # reporting did not start (e.g. a usage error)
            return
        store = self.settings.local_path
        from .build import save_deliveries

        save_deliveries(store, controller.session.uuid, controller.states)
        if wanted is None:
            return
        output = self.settings.path(wanted or None, DEFAULT_OUTPUT)
        self.output = write_for(store, output, controller.session.uuid)
        say(f"{PREFIX} {output}")


def write_for(store: Path, output: Path, uuid: str) -> Path:
    """Write the report of session ``uuid`` (and the sessions before it) to ``output``: of its
    logical run when the store holds the run's other shards too (runs.run_ref_of)."""
    from ..targets.local.reader import LocalReader
    from .build import write_report
    from .runs import run_ref_of

    with LocalReader(store) as reader:
        write_report(reader, output, run_ref_of(store, uuid), DEFAULT_LAST, None)
    return output
