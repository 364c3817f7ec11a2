"""Reports built from a run or from the local history: the HTML report and CI job summaries.

For the HTML report, ``write_report`` is the one entry point (the CLI verb ``html`` and
``--testreport-html`` use it); job_summary.py writes the CI job summaries.
Jinja2 is imported only when a report is written, so plain runs never load it.
"""

from __future__ import annotations

from ..paths import REPORT as DEFAULT_OUTPUT

DEFAULT_LAST = 30  # sessions before the reported one shown in the history

__all__ = ["DEFAULT_LAST", "DEFAULT_OUTPUT"]
