"""``--testreport-failed-from``: run only what failed in an earlier session, like ``--lf``."""

from __future__ import annotations

import importlib
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
    """Look the failed tests up once, in the controller, before any worker starts."""
    from .targets.local.reader import LocalReader

    assert settings.failed_from is not None
    spec = settings.failed_from
    target, _, ref = spec.partition(":")
    target = target.strip().lower()
    if target != "local":  # each remote target's reader maps its failures back to node ids
        module = importlib.import_module(f"pytest_testreport.targets.{target}.reader")
        message, nodeids, *_ = module.failed_nodeids(settings, ref or None)
        return FailedSelection(nodeids or None, message)
    path = settings.local_path
    if not path.exists():
        raise pytest.UsageError(
            f"testreport: --testreport-failed-from={spec}: no local store at {path}; "
            "record a run first with pytest --testreport"
        )
    with LocalReader(path) as reader:
        if ref:
            try:
                session_id: Optional[int] = reader.session(ref, None)["id"]
            except Exception as exc:
                raise pytest.UsageError(
                    f"testreport: --testreport-failed-from={spec}: {exc}"
                ) from None
            nodeids = [t["nodeid"] for t in reader.failed(ref, None)]
        else:
            branch = settings.ci().branch
            session_id, nodeids = reader.failed_for_rerun(branch)
    if session_id is None:
        return FailedSelection(None, "testreport: no earlier local session; running all tests")
    if not nodeids:
        return FailedSelection(
            None, f"testreport: nothing failed in local session {session_id}; running all tests"
        )
    return FailedSelection(
        nodeids,
        f"testreport: running the {len(nodeids)} tests that failed or errored "
        f"in local session {session_id}",
    )
