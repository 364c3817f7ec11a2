"""``--testreport-shard=I/N``: run shard I of N, split by recent durations.

Every shard computes the same plan from the same inputs (the sorted node ids left after
every other selection, ``-k``, ``-m`` and ``--testreport-failed-from`` included, and the same
durations), so the N shards together run each test exactly once. The plan is greedy
longest-first bin packing: the longest test goes to the least loaded shard, ties broken by
node id and then by shard number. Tests without history are planned at the median of the
known durations (one second each when nothing is known, which splits by count).
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import pytest

from .config import Settings

UNKNOWN_SECONDS = 1.0  # every test, when no duration at all is known


@dataclass(frozen=True)
class Plan:
    """Which shard runs each test, and each shard's planned seconds."""

    shards: tuple[frozenset[str], ...]
    loads: tuple[float, ...]
    known: frozenset[str]  # the tests planned from their own history

    def shard(self, index: int) -> frozenset[str]:
        return self.shards[index - 1]


def fallback_seconds(durations: Mapping[str, float]) -> float:
    """What a test without history is planned at: the median of the known durations."""
    return float(statistics.median(durations.values())) if durations else UNKNOWN_SECONDS


def make_plan(nodeids: Sequence[str], durations: Mapping[str, float], count: int) -> Plan:
    """Greedy longest-first: the same inputs give the same plan, in any order of ``nodeids``."""
    fallback = fallback_seconds(durations)
    ids = sorted(set(nodeids))
    weights = {nodeid: durations.get(nodeid, fallback) for nodeid in ids}
    order = sorted(ids, key=lambda nodeid: (-weights[nodeid], nodeid))
    heap = [(0.0, index) for index in range(count)]  # (load, shard): the lowest shard on ties
    shards: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for nodeid in order:
        load, index = heapq.heappop(heap)
        shards[index].append(nodeid)
        loads[index] = load + weights[nodeid]
        heapq.heappush(heap, (loads[index], index))
    return Plan(
        shards=tuple(frozenset(s) for s in shards),
        loads=tuple(loads),
        known=frozenset(n for n in ids if n in durations),
    )


def shard_line(index: int, count: int, nodeids: Sequence[str],
               durations: Mapping[str, float]) -> str:  # fmt: skip
    """``shard 2/4: 512 tests, planned 61.2 s (history for 498)``."""
    fallback = fallback_seconds(durations)
    planned = sum(durations.get(n, fallback) for n in nodeids)
    known = sum(1 for n in nodeids if n in durations)
    return (f"testreport: shard {index}/{count}: {len(nodeids)} tests, planned {planned:.1f} s "
            f"(history for {known})")  # fmt: skip


class ShardSelection:
    """Keeps this shard's tests; the others are deselected, as ``-k`` deselects."""

    def __init__(self, index: int, count: int, durations: Mapping[str, float],
                 source: str = "") -> None:  # fmt: skip
        self.index, self.count = index, count
        self.durations = dict(durations)
        self.source = source
        self.line: Optional[str] = None

    def pytest_report_header(self) -> Optional[str]:
        return self.source or None

    # A wrapper, so that it sees the items every other plugin (``-k``, failed-from) left.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]
                                      ) -> Any:  # fmt: skip
        result = yield
        plan = make_plan([item.nodeid for item in items], self.durations, self.count)
        mine = plan.shard(self.index)
        selected = [item for item in items if item.nodeid in mine]
        deselected = [item for item in items if item.nodeid not in mine]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
        self.line = shard_line(self.index, self.count, [i.nodeid for i in selected],
                               self.durations)  # fmt: skip
        return result

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._say(session.config, self.line)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        """The xdist controller does not collect: its workers tell it what they kept."""
        if self.line is None:
            self.line = shard_line(self.index, self.count, list(ids), self.durations)
            self._say(node.config, self.line)

    @staticmethod
    def _say(config: pytest.Config, line: Optional[str]) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if line and reporter is not None and not hasattr(config, "workerinput"):
            reporter.write_line(line)


def resolve_shard(settings: Settings) -> ShardSelection:
    """Read the durations once, in the controller, before any worker starts."""
    from .durations import DEFAULT_LAST, DurationsError, read_durations, store_durations

    index, count = settings.shard
    spelled = f"--testreport-shard={index}/{count}"
    if settings.durations:
        path = settings.path(settings.durations, settings.rootdir)
        try:
            durations = read_durations(path)
        except DurationsError as exc:
            raise pytest.UsageError(f"testreport: --testreport-durations: {exc}") from None
        return ShardSelection(index, count, durations,
                              f"testreport: {spelled}: durations of {len(durations)} tests "
                              f"from {path}")  # fmt: skip
    path = settings.local_path
    if not path.exists():
        return ShardSelection(index, count, {}, f"testreport: {spelled}: no local store at "
                              f"{path}; splitting by count")  # fmt: skip
    last = settings.durations_last or DEFAULT_LAST
    ci = settings.ci()
    try:
        durations = store_durations(path, ci.branch, last, ci.run_id)
    except Exception as exc:  # shards must plan alike: never guess around a broken store
        raise pytest.UsageError(
            f"testreport: {spelled}: cannot read durations from the store at {path} ({exc}); "
            "fix or remove it, or give --testreport-durations=PATH"
        ) from None
    return ShardSelection(index, count, durations,
                          f"testreport: {spelled}: durations of {len(durations)} tests from "
                          f"{path}")  # fmt: skip
