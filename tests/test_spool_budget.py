"""The end of a run never waits for a backlog its request budget cannot send in time (issue 16,
item 1): what the token bucket cannot send before the deadline is spooled at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_testreport.engine import Engine
from pytest_testreport.engine.engine import BUDGET_NOTE, DEADLINE_NOTE
from pytest_testreport.engine.limits import TokenBucket
from pytest_testreport.engine.replay import replay
from pytest_testreport.model import Session

from .engine_helpers import CollectFake, CollectTarget, make_results

FAST = {"connect_timeout": 1.0, "read_timeout": 1.0}


class HeldTarget(CollectTarget):
    """Batches no run fills: every result is still queued when the run ends."""

    batch_size = 1000
    batch_age = 600.0


def run_to_the_end(target: CollectTarget, count: int, timeout: float) -> Any:
    engine = Engine([target], target.spool)  # type: ignore[attr-defined]
    session = Session()
    engine.start(session)
    for result in make_results(count):
        session.count(result)
        engine.submit(result)
    session.finish()
    (state,) = engine.finish(session, timeout)
    return state


def journal_errors(spool: Path) -> list[str]:
    (path,) = spool.glob("collect-*.jsonl")
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [e["error"] for e in entries if e["kind"] == "results"]


class OneByOne(HeldTarget):
    """One request per result, as BrowserStack's live lane (two there)."""

    batch_size = 1


def test_a_backlog_the_budget_cannot_send_is_spooled_at_once(collect_fake: CollectFake,
                                                             tmp_path: Path) -> None:  # fmt: skip
    """Each token comes soon (0.56 s) but 40 of them take 21 s: more than the 6 s deadline.

    Before, the sender sent what it could and the rest was spooled when the deadline passed
    (after waiting all of it); now what cannot make it is spooled when the run ends."""
    target = OneByOne(collect_fake.url, rate=(20, 10.0), **FAST)  # a burst of 2, then 1.8/s
    target.spool = tmp_path  # type: ignore[attr-defined]
    state = run_to_the_end(target, 40, timeout=6.0)
    assert DEADLINE_NOTE not in state.errors  # the deadline was never reached
    assert BUDGET_NOTE in state.errors and state.close_spooled
    assert 0 < state.delivered < 40 and state.delivered + state.spooled == 40
    assert set(journal_errors(tmp_path)) == {BUDGET_NOTE}
    echo: list[str] = []
    code = replay(tmp_path, lambda name, env: CollectTarget(collect_fake.url, **FAST),
                  echo=echo.append, env={})  # fmt: skip
    assert code == 0, echo
    assert len(collect_fake.unique_items()) == 40  # every result once: sent, or replayed


def test_a_backlog_the_budget_can_send_is_sent(collect_fake: CollectFake, tmp_path: Path) -> None:
    target = HeldTarget(collect_fake.url, rate=(1000, 1.0), **FAST)
    target.spool = tmp_path  # type: ignore[attr-defined]
    state = run_to_the_end(target, 40, timeout=20.0)
    assert state.delivered == 40 and state.spooled == 0 and state.closed
    assert not list(tmp_path.glob("*.jsonl"))


def test_the_bucket_says_what_it_can_grant_in_time() -> None:
    bucket = TokenBucket(100, 10.0)  # a burst of 10, then 9 per second
    assert bucket.available_within(0) == 10
    assert bucket.available_within(2.0) == 28
    for _ in range(10):
        bucket.acquire()
    assert bucket.available_within(0) == 0
