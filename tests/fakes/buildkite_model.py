"""Buildkite fake: state objects (runs, uploads, executions) and the REST rate-limit window."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from .buildkite_rules import RESULTS


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass
class BkExecution:
    data: dict[str, Any]  # the record as uploaded
    tags: dict[str, str]  # upload tags overridden by execution tags
    run_key: str
    upload_id: str
    execution_id: str  # the record's ``id``, or one made up by the fake
    created_at: str = field(default_factory=now_iso)

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def scope(self) -> Optional[str]:
        return self.data.get("scope")

    @property
    def result(self) -> Optional[str]:
        return self.data.get("result")


@dataclass
class BkUpload:
    id: str
    run_key: str
    size: int  # records in ``data``
    queued: int
    skipped: int
    gzip: bool
    tags: dict[str, str]
    received: float  # monotonic


@dataclass
class BkRun:
    """All uploads sharing one ``run_env.key``. ``executions`` keeps duplicates too."""

    id: str
    key: str
    run_env: dict[str, Any]
    created_at: str = field(default_factory=now_iso)
    uploads: list[BkUpload] = field(default_factory=list)
    executions: list[BkExecution] = field(default_factory=list)
    duplicates: int = 0  # executions whose ``id`` was already stored in this run
    ids: set[str] = field(default_factory=set)  # execution ids stored so far
    skipped: int = 0
    skipped_reasons: list[str] = field(default_factory=list)

    def by_id(self) -> dict[str, list[BkExecution]]:
        out: dict[str, list[BkExecution]] = {}
        for execution in self.executions:
            out.setdefault(execution.execution_id, []).append(execution)
        return out

    def results(self) -> dict[str, int]:
        counts = dict.fromkeys((*RESULTS, "none"), 0)
        for execution in self.executions:
            counts[execution.result or "none"] += 1
        return counts

    @property
    def result(self) -> str:
        if not self.executions:
            return "pending"
        return "failed" if any(e.result == "failed" for e in self.executions) else "passed"


class RateWindow:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window, self.start, self.count = limit, window, 0.0, 0

    def hit(self, now: float) -> None:
        self.roll(now)
        self.count += 1

    def roll(self, now: float) -> None:
        if self.count == 0 or now - self.start >= self.window:
            self.start, self.count = now, 0

    def reset(self, now: float) -> int:
        return max(0, math.ceil(self.start + self.window - now)) if self.count else int(self.window)
