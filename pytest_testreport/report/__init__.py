"""The HTML report of the local history: one self-contained file built from the store.

``write_report`` is the one entry point (the CLI verb ``html`` and ``--testreport-html`` use it).
Jinja2 is imported only when a report is written, so plain runs never load it.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_OUTPUT = Path(".testreport") / "report.html"
DEFAULT_LAST = 30  # sessions before the reported one shown in the history

__all__ = ["DEFAULT_LAST", "DEFAULT_OUTPUT"]
