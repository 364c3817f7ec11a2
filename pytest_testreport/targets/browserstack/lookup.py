"""Replay's look-up of BrowserStack test runs whose start may exist without our knowing its uuid.

A start whose answer was lost (or a live start made by a process that died) may have created a
run. Replay reads the build's runs once and claims the one that is ours: by our id in
``custom_metadata`` when the read API returns it, else by what the start sent (name, file,
scopes, start time to the millisecond, and the ``attempt``/``rerun`` marks when present).
The read API documents neither field (reference §13), so matching never depends on them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional

from ...engine.errors import DeliveryError, RetryableError
from ...reading import Json, parse_time
from .reader import build_runs

if TYPE_CHECKING:
    from ...engine.http import HttpClient

LOOKUP_TRIES = 3  # a read refused or failing once (even a 401) is tried again before giving up
LOOKUP_PAUSE = 1.0  # seconds before the second try, doubled for the third
_ID_KEYS = ("uuid", "test_run_uuid", "test_run_id", "id")


def run_uuid(run: Json) -> Optional[str]:
    for key in _ID_KEYS:
        if run.get(key):
            return str(run[key])
    return None


def _millis(value: Any) -> Optional[str]:
    when = parse_time(value) if isinstance(value, str) else None
    return None if when is None else when.isoformat(timespec="milliseconds")


def _key(name: Any, file_name: Any, started_at: Any) -> tuple[str, str, Optional[str]]:
    return str(name or ""), str(file_name or ""), _millis(started_at)


class RunLookup:
    """The runs of one build, read once, each claimed at most once."""

    def __init__(self, runs: list[Json], id_key: str) -> None:
        self._by_id: dict[str, Json] = {}
        self._by_fields: dict[tuple[str, str, Optional[str]], list[Json]] = {}
        for run in runs:
            if run_uuid(run) is None:
                continue
            meta = run.get("custom_metadata")
            ours = meta.get(id_key) if isinstance(meta, dict) else None
            if isinstance(ours, str):
                self._by_id[ours] = run
            key = _key(run.get("name"), run.get("file_name"), run.get("started_at"))
            self._by_fields.setdefault(key, []).append(run)

    @classmethod
    def load(cls, http: HttpClient, build: str, id_key: str) -> RunLookup:
        """Read the build's runs; a failure is tried again, then raised as retryable."""
        for attempt in range(LOOKUP_TRIES):
            try:
                return cls(build_runs(http, build), id_key)
            except DeliveryError as exc:
                if attempt == LOOKUP_TRIES - 1:
                    raise RetryableError(f"reading the build's test runs failed: {exc}") from exc
                time.sleep(LOOKUP_PAUSE * 2**attempt)
        raise AssertionError("unreachable")

    def claim(self, our_id: str, start: Json) -> Optional[Json]:
        """The run with our id, else the unclaimed run the ``start`` body describes."""
        run = self._by_id.pop(our_id, None)
        if run is not None:
            self._forget(run)
            return run
        key = _key(start.get("name"), start.get("file_name"), start.get("started_at"))
        for run in self._by_fields.get(key, []):
            if self._same(run, start):
                self._forget(run)
                return run
        return None

    @staticmethod
    def _same(run: Json, start: Json) -> bool:
        """Fields the read answer may lack are compared only when it has them."""
        scopes = run.get("scopes")
        if isinstance(scopes, list) and [str(s) for s in scopes] != start.get("scopes"):
            return False
        meta = run.get("custom_metadata")
        sent = start.get("custom_metadata") or {}
        if isinstance(meta, dict) and "attempt" in meta and meta["attempt"] != sent.get("attempt"):
            return False
        tags = run.get("tags")
        rerun = "rerun" in (start.get("tags") or [])
        return not isinstance(tags, list) or ("rerun" in tags) == rerun

    def _forget(self, run: Json) -> None:
        for runs in self._by_fields.values():
            runs[:] = [other for other in runs if other is not run]
        self._by_id = {k: v for k, v in self._by_id.items() if v is not run}
