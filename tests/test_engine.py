"""The delivery engine: faults never lose or duplicate a result, and the end never hangs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from pytest_testreport.engine import Engine
from pytest_testreport.engine.debuglog import DebugLog
from pytest_testreport.engine.errors import RejectedError
from pytest_testreport.engine.limits import Deadline, TokenBucket, parse_rate
from pytest_testreport.engine.replay import replay
from pytest_testreport.engine.secrets import Secret, mask
from pytest_testreport.engine.spool import find_journals, read_journal
from pytest_testreport.engine.target import Target
from pytest_testreport.model import Session, TestResult, TestStart

from .engine_helpers import TOKEN, CollectFake, CollectTarget, make_results

FAST = {"connect_timeout": 1.0, "read_timeout": 1.0}


@pytest.fixture
def fake(collect_fake: CollectFake) -> CollectFake:
    return collect_fake


def run_engine(target: CollectTarget, spool: Path, count: int = 120, timeout: float = 20.0,
               bad: tuple[int, ...] = (),
               sent: Optional[list[TestResult]] = None) -> Any:  # fmt: skip
    """Stream ``count`` results through one engine run (kept in ``sent``); the sender state."""
    engine = Engine([target], spool)
    session = Session()
    engine.start(session)
    for result in make_results(count, bad):
        session.count(result)
        engine.submit(result)
        if sent is not None:
            sent.append(result)
    session.finish()
    (state,) = engine.finish(session, timeout)
    return state


def replay_all(fake: CollectFake, spool: Path, echo: list[str]) -> int:
    return replay(
        spool, lambda name, env: CollectTarget(fake.url, **FAST), echo=echo.append, env={}
    )


def assert_exactly_once(
    fake: CollectFake, sent: list[TestResult], *, repeats: bool = False
) -> None:
    """The service holds exactly the results ``sent``, each delivered once (``repeats``: or
    again, as the same upsert after a lost answer), in one session that was closed last."""
    assert len(sent) == len({r.uuid for r in sent})
    assert fake.unique_items() == {r.uuid for r in sent}
    if not repeats:
        assert set(fake.deliveries.values()) == {1}
    (session,) = [s for s in fake.sessions.values() if s["items"]]
    assert session["closed"] and session["order"][-1] == "close"  # closed last


def test_healthy_service_gets_everything_once_and_close_last(fake, tmp_path) -> None:
    sent: list[TestResult] = []
    state = run_engine(CollectTarget(fake.url, **FAST), tmp_path, sent=sent)
    assert (state.delivered, state.spooled, state.closed) == (120, 0, True)
    assert_exactly_once(fake, sent)
    assert fake.sessions["s1"]["status"] == "successful"
    assert not find_journals(tmp_path)


@pytest.mark.parametrize(
    "inject",
    [
        lambda f: f.fail_ratio(0.3, status=503, seed=3),
        lambda f: f.fail_ratio(0.3, status=500, seed=5),
        lambda f: f.fail_next(3, status=429, headers={"Retry-After": "0"}),
        lambda f: f.fail_next(3, status=429, headers={"RateLimit-Reset": "0"}),
        lambda f: f.reset_next(4),
        lambda f: f.slow_next(2, delay=1.5),
    ],
    ids=["503-share", "500-share", "429-retry-after", "429-ratelimit-reset", "resets", "slow"],
)
def test_transient_faults_still_deliver_exactly_once(fake, tmp_path, inject) -> None:
    inject(fake)
    sent: list[TestResult] = []
    state = run_engine(CollectTarget(fake.url, **FAST), tmp_path, sent=sent)
    if state.spooled:  # the retry budget ran out: the rest is in the spool, and replay sends it
        fake.clear_faults()
        assert replay_all(fake, tmp_path, []) == 0
    assert len(sent) == 120
    assert_exactly_once(fake, sent, repeats=True)  # a lost answer is retried as an upsert
    assert not find_journals(tmp_path)


def test_outage_for_the_whole_run_spools_everything_then_replay_delivers(fake, tmp_path) -> None:
    fake.outage(mode="refuse")
    sent: list[TestResult] = []
    state = run_engine(CollectTarget(fake.url, **FAST), tmp_path, sent=sent)
    assert (state.delivered, state.spooled, state.opened) == (0, 120, False)
    assert state.offline and "opening the session failed" in state.offline
    assert state.close_spooled
    assert not fake.sessions
    (journal,) = find_journals(tmp_path)
    assert read_journal(journal).pending_results == 120
    fake.recover()
    echo: list[str] = []
    assert replay_all(fake, tmp_path, echo) == 0, echo
    assert_exactly_once(fake, sent)
    assert not journal.exists()
    assert replay_all(fake, tmp_path, echo) == 0  # nothing left: a second replay sends nothing
    assert echo[-1].startswith("nothing to replay")


def test_unauthorized_reports_once_with_hint_and_spools(fake, tmp_path) -> None:
    fake.unauthorized()
    state = run_engine(CollectTarget(fake.url, **FAST), tmp_path)
    assert state.delivered == 0 and state.spooled == 120
    assert len(state.errors) == 1
    assert "401" in state.errors[0] and "check COLLECT_TOKEN" in state.errors[0]
    assert len(fake.requests) == 1  # no hammering once the token is known to be wrong
    fake.authorize()
    assert replay_all(fake, tmp_path, []) == 0
    assert len(fake.unique_items()) == 120


def test_a_rejected_batch_is_split_to_isolate_the_bad_item(fake, tmp_path) -> None:
    state = run_engine(CollectTarget(fake.url, **FAST), tmp_path, bad=(17,))
    assert (state.delivered, state.spooled) == (119, 1)
    (journal,) = find_journals(tmp_path)
    spooled = read_journal(journal)
    results = [r for e in spooled.pending if e.kind == "results" for r in e.results()]
    assert [r.name for r in results] == ["BAD"]
    assert "an item is invalid" in spooled.pending[0].data["error"]
    # The close waits behind the spooled item, so the session stays open until replay.
    assert [e.kind for e in spooled.pending] == ["results", "close"]
    assert not fake.sessions["s1"]["closed"]


def test_the_end_never_waits_past_the_deadline(fake, tmp_path) -> None:
    fake.latency(0.5)
    started = time.monotonic()
    state = run_engine(CollectTarget(fake.url, read_timeout=30.0), tmp_path, count=400,
                       timeout=1.0)  # fmt: skip
    elapsed = time.monotonic() - started
    assert any("deadline" in e for e in state.errors)
    assert state.delivered + state.spooled == 400
    assert state.close_spooled
    # 40 batches at 0.5 s each would take 20 s; the deadline cut it short (generous bound).
    assert elapsed < 15
    fake.clear_faults()
    assert replay_all(fake, tmp_path, []) == 0
    assert len(fake.unique_items()) == 400


def test_non_idempotent_request_is_not_repeated_after_a_lost_answer(fake, tmp_path) -> None:
    fake.slow_next(1, delay=2.0)  # the create is processed, but its answer comes too late
    state = run_engine(CollectTarget(fake.url, connect_timeout=1.0, read_timeout=0.5), tmp_path)
    assert len(fake.matching("POST", r"^/sessions$")) == 1
    assert state.offline and "not repeated" in state.offline
    assert state.spooled == 120


def test_replay_interrupted_half_way_can_run_again(fake, tmp_path) -> None:
    fake.outage(mode="reset")
    sent: list[TestResult] = []
    run_engine(CollectTarget(fake.url, **FAST), tmp_path, count=60, sent=sent)
    fake.recover()
    fake.fail_next(30, status=400, path=r"/items$")  # a later entry fails: replay stops there
    target = CollectTarget(fake.url, **FAST)
    echo: list[str] = []
    assert replay(tmp_path, lambda n, e: target, echo=echo.append, env={}) == 1
    assert "run replay again to continue" in echo[-1]
    fake.clear_faults()
    assert replay_all(fake, tmp_path, echo) == 0
    assert_exactly_once(fake, sent)


def test_replay_dry_run_sends_nothing(fake, tmp_path) -> None:
    fake.outage(mode="refuse")
    run_engine(CollectTarget(fake.url, **FAST), tmp_path, count=12)
    fake.recover()
    echo: list[str] = []
    assert replay(tmp_path, lambda n, e: pytest.fail("built a target"), dry_run=True,
                  echo=echo.append, env={}) == 0  # fmt: skip
    assert not fake.requests
    assert any("open the session" in line for line in echo)
    assert sum(int(line.split()[1]) for line in echo if "results" in line) == 12


def test_journal_survives_a_torn_last_line(fake, tmp_path) -> None:
    fake.outage(mode="refuse")
    run_engine(CollectTarget(fake.url, **FAST), tmp_path, count=20)
    (journal,) = find_journals(tmp_path)
    with journal.open("a") as handle:
        handle.write('{"kind": "results", "entry": 99, "resu')  # the process died mid-line
    spooled = read_journal(journal)
    lines = len(journal.read_bytes().splitlines())
    assert spooled.pending_results == 20 and spooled.damaged == [f"line {lines}: cut off"]
    fake.recover()
    # What was readable is delivered; a cut-off results line may have held results: exit 1.
    assert replay_all(fake, tmp_path, []) == 1
    assert len(fake.unique_items()) == 20
    assert not journal.exists() and journal.with_name(journal.name + ".damaged").exists()


def test_client_rate_limit_keeps_under_the_service_limit(fake, tmp_path) -> None:
    fake.rate_limit(8, 1.0)
    state = run_engine(CollectTarget(fake.url, rate=(6, 1.0), **FAST), tmp_path, count=100)
    assert state.delivered == 100
    assert not [r for r in fake.requests if r.status == 429]


def test_secrets_never_show(fake, tmp_path) -> None:
    secret = Secret("bud_ut_us_abcdefgh")
    assert "abcdefgh" not in repr(secret) and "abcdefgh" not in str(secret)
    assert mask("Authorization: Bearer xyz123456", []) == "Authorization: ***"
    assert "abcdefgh" not in mask("token bud_ut_us_abcdefgh in text", [secret])
    target = CollectTarget(fake.url, **FAST)
    log = DebugLog(tmp_path / "debug.log")
    target.http.debug = log
    fake.unauthorized()
    run_engine(target, tmp_path, count=3)
    log.close()
    text = (tmp_path / "debug.log").read_text()
    assert "POST http://127.0.0.1" in text and "-> 401" in text
    assert TOKEN not in text
    for journal in find_journals(tmp_path):
        assert TOKEN not in journal.read_text()


def test_dry_run_builds_payloads_and_sends_nothing(fake, tmp_path) -> None:
    target = CollectTarget(fake.url, dry_run=True, **FAST)
    target.http.debug = DebugLog(tmp_path / "debug.log")
    state = run_engine(target, tmp_path, count=15)
    assert state.delivered == 15 and not fake.requests
    lines = (tmp_path / "debug.log").read_text().splitlines()
    payloads = [json.loads(line.split(" ", 5)[5]) for line in lines if "/items" in line]
    assert sum(len(p["items"]) for p in payloads) == 15


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ('{"token": "s3cr3t-value-123"}', "s3cr3t-value-123"),
        ("access_key=AbCdEf123456&page=2", "AbCdEf123456"),
        ("BUDDY_UT_TOKEN=bud_ut_eu_0123456789abcdef", "0123456789abcdef"),
        ("echo: bud_pat_zyxwvuts98765 was refused", "zyxwvuts98765"),
        ('Token token="bk_suite_token_1234567"', "bk_suite_token_1234567"),
        ("Basic dXNlcjpwYXNzd29yZA== rejected", "dXNlcjpwYXNzd29yZA=="),
        ("password: hunter22", "hunter22"),
    ],
)
def test_token_looking_values_are_masked_without_being_told(text: str, hidden: str) -> None:
    masked = mask(text, [])
    assert hidden not in masked and "***" in masked


def test_masking_leaves_ordinary_text_alone() -> None:
    text = "POST http://127.0.0.1:8080/sessions/s1/items -> 201 (12 ms) run 7f2fd00f-c83a"
    assert mask(text, []) == text


def test_rejected_error_names_status_body_and_hint() -> None:
    error = RejectedError(403, "Forbidden", '{"message": "bad scope"}', "check BUDDY_UT_TOKEN")
    assert str(error) == '403 Forbidden: {"message": "bad scope"} — check BUDDY_UT_TOKEN'
    assert error.is_auth


def test_token_bucket_and_rate_parsing() -> None:
    assert parse_rate("1600/300") == (1600, 300.0)
    for bad in ("1600", "a/b", "0/10", "10/0"):
        with pytest.raises(ValueError, match="REQUESTS/SECONDS"):
            parse_rate(bad)
    deadline = Deadline()
    bucket = TokenBucket(1, 3600, deadline)  # one request an hour
    bucket.acquire()
    deadline.set(0.05)
    with pytest.raises(Exception, match="deadline"):
        bucket.acquire()  # the next token is an hour away: past the deadline, so it gives up


class LiveStartTarget(Target):
    """In memory: records the order of start answers and result deliveries."""

    name = "livestart"
    batch_size = 1
    batch_age = 0.01
    concurrency = 4
    wants_starts = True

    def __init__(self, start_delay: float = 0.0) -> None:
        self.opened = threading.Event()
        self.start_delay = start_delay
        self.events: list[tuple[str, str]] = []

    def open_session(self, session: Session) -> None:
        self.opened.wait(10)

    def send_start(self, session: Session, start: TestStart) -> None:
        self.events.append(("start-sent", start.uuid))
        time.sleep(self.start_delay)
        self.events.append(("start-answered", start.uuid))

    def send_batch(self, session: Session, results: list[Any], progress: dict[str, Any]) -> None:
        self.events.extend(("result", result.uuid) for result in results)

    def close_session(self, session: Session) -> None:
        self.events.append(("close", ""))


def start_of(result: Any) -> TestStart:
    return TestStart(uuid=result.uuid, test=result.test, started_at=result.started_at)


def test_a_start_queued_behind_its_result_is_not_sent(tmp_path) -> None:
    """A backlog sends each test's run back to back instead of starts waiting on threads."""
    target = LiveStartTarget()
    engine = Engine([target], tmp_path)
    session = Session()
    engine.start(session)
    results = make_results(20)
    for result in results:  # the sender is still opening: everything queues up
        engine.submit_start(start_of(result))
        engine.submit(result)
    target.opened.set()
    (state,) = engine.finish(session, 10)
    assert state.delivered == 20
    assert [kind for kind, _ in target.events].count("result") == 20
    assert not [event for event in target.events if event[0].startswith("start")]


def test_a_result_waits_for_its_live_start_to_answer(tmp_path) -> None:
    target = LiveStartTarget(start_delay=0.3)
    target.opened.set()
    engine = Engine([target], tmp_path)
    session = Session()
    engine.start(session)
    (result,) = make_results(1)
    engine.submit_start(start_of(result))
    deadline = time.monotonic() + 5
    while ("start-sent", result.uuid) not in target.events and time.monotonic() < deadline:
        time.sleep(0.01)
    engine.submit(result)
    (state,) = engine.finish(session, 10)
    assert state.delivered == 1
    assert target.events == [("start-sent", result.uuid), ("start-answered", result.uuid),
                             ("result", result.uuid), ("close", "")]  # fmt: skip
