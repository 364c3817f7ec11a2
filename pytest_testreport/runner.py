"""The runner role: where tests run (the single process, or each xdist worker).

It records the author's steps and metadata and attaches them to pytest's reports, so that
they reach the controller (controller.py) with the report itself. Workers never report.
This module stays light: it is loaded by every pytest run that has the plugin installed.
"""

from __future__ import annotations

from typing import Any

import pytest

from .api import EXTRA_ATTR, recorder

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


class Runner:
    """Records steps and metadata of the test running in this process.

    Registered wherever tests run, so that ``step()`` inside a test is never "outside a
    test"; the records are attached to reports only when reporting is on (``attach``).
    """

    def __init__(self, attach: bool) -> None:
        self.attach = attach

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
        if not self.attach:
            return
        extra: dict[str, Any] = {}
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
