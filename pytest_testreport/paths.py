"""Where pytest-testreport keeps its files by default: ``.testreport/`` under the rootdir."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(".testreport")
STORE = FOLDER / "results.sqlite"  # the local target's store
SPOOL = FOLDER / "spool"  # what could not be delivered, for ``replay``
DEBUG_LOG = FOLDER / "debug.log"  # --testreport-debug and --testreport-dry-run
REPORT = FOLDER / "report.html"  # the HTML report
