"""``--testreport-failed-from``: run only what failed in an earlier session, like ``--lf``."""

from __future__ import annotations

from typing import Optional

import pytest

from .config import Settings


class FailedSelection:
    """Keeps the collected tests that failed before; the node ids come from the controller."""

    def __init__(self, nodeids: Optional[list[str]], message: str = "") -> None:
        self.nodeids = nodeids
        self.message = message

    def pytest_report_header(self) -> Optional[str]:
        return self.message or None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if not self.nodeids:  # nothing failed (or no history): run everything, as --lf does
            return
        wanted = set(self.nodeids)
        # A file that failed to collect was recorded under its path: rerun all of it.
        prefixes = tuple(f"{nodeid}::" for nodeid in self.nodeids)
        selected = [i for i in items if i.nodeid in wanted or i.nodeid.startswith(prefixes)]
        deselected = [
            i for i in items if i.nodeid not in wanted and not i.nodeid.startswith(prefixes)
        ]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected


def resolve_failed(settings: Settings) -> FailedSelection:
    """Look the failed tests up once, in the controller, before any worker starts.

    Every target answers through its reader's ``failed_from`` (``reading.Reader``).
    """
    from .targets import specs

    assert settings.failed_from is not None
    name, _, ref = settings.failed_from.partition(":")
    reader = specs()[name.strip().lower()].reader_class()
    assert reader is not None  # config accepts only targets whose reader can rerun
    found = reader.failed_from(settings, ref or None)
    return FailedSelection(found.nodeids or None, found.message)
