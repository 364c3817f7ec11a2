"""Acknowledgements and takeover, without processes: what the pytest process keeps and resends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.engine.acks import Tracker
from pytest_testreport.engine.ledger import Ledger
from pytest_testreport.engine.replay import replay
from pytest_testreport.engine.spool import Journal, find_journals, read_journal
from pytest_testreport.engine.takeover import Facts, Takeover
from pytest_testreport.model import Session, TestStart

from .engine_helpers import CollectFake, CollectTarget, make_results

FAST = {"connect_timeout": 1.0, "read_timeout": 1.0}


@pytest.fixture
def fake(collect_fake: CollectFake) -> CollectFake:
    return collect_fake


def handed_over(ledger: Ledger, tracker: Tracker, items: list[Any]) -> None:
    """What the feeder and the child do with a batch."""
    first, _data = ledger.add(items)
    tracker.register(first, [i for i in items if not isinstance(i, TestStart)])


def acknowledge(ledger: Ledger, tracker: Tracker) -> None:
    message = tracker.snapshot()
    assert message is not None
    ledger.acknowledge(message[1], message[2])


def test_the_pytest_process_keeps_exactly_what_some_target_has_not_resolved() -> None:
    results = make_results(10)
    ledger, tracker = Ledger(["a", "b"]), Tracker(["a", "b"], lambda message: None)
    r4 = results[4]
    start = TestStart(uuid=r4.uuid, test=r4.test, started_at=r4.started_at)
    handed_over(ledger, tracker, results[:4])
    handed_over(ledger, tracker, [start, *results[4:]])  # starts are not numbered
    tracker.resolved("a", results[:10], "delivered")
    tracker.resolved("b", results[:3], "delivered")
    tracker.resolved("b", results[6:8], "spooled")  # out of order: a pool, a spooled batch
    acknowledge(ledger, tracker)
    missing = ledger.outstanding()
    assert missing["a"] == []
    assert [r.uuid for r in missing["b"]] == [r.uuid for r in results[3:6] + results[8:]]
    assert ledger.acks["b"].counts == {"delivered": 3, "spooled": 2, "lost": 0}
    tracker.resolved("b", results[3:6] + results[8:], "lost")
    acknowledge(ledger, tracker)
    assert ledger.outstanding() == {"a": [], "b": []}
    assert not ledger._batches  # let go of: memory stays with what is unresolved


def test_a_stale_acknowledgement_never_takes_back_a_newer_one() -> None:
    results = make_results(4)
    ledger, tracker = Ledger(["a"]), Tracker(["a"], lambda message: None)
    handed_over(ledger, tracker, results)
    old = tracker.snapshot()
    tracker.resolved("a", results, "delivered")
    new = tracker.snapshot()
    assert old is not None and new is not None
    ledger.acknowledge(new[1], new[2])
    ledger.acknowledge(old[1], old[2])  # written earlier by another thread, read later
    assert ledger.outstanding() == {"a": []}


def test_a_repeated_uuid_does_not_keep_the_rest_forever() -> None:
    results = make_results(3)
    ledger, tracker = Ledger(["a"]), Tracker(["a"], lambda message: None)
    handed_over(ledger, tracker, [results[0], results[1], results[0], results[2]])
    tracker.resolved("a", results, "delivered")
    acknowledge(ledger, tracker)
    assert ledger.outstanding() == {"a": []}
    assert not tracker._ordinals  # forgotten once resolved


def test_closing_sends_what_was_resolved_first() -> None:
    """The pytest process must never resend to a session the child closed."""
    sent: list[Any] = []
    tracker = Tracker(["a"], sent.append)
    results = make_results(2)
    tracker.register(0, results)
    tracker.resolved("a", results, "delivered")
    tracker.closed("a", spooled=False)
    assert [m[0] for m in sent] == ["ack", "closed"]
    assert sent[0][2]["a"].mark == 2


def child_run(fake: CollectFake, count: int, delivered: int) -> tuple[Ledger, Facts, Session]:
    """A delivery process that opened the session, handed ``count`` results and delivered the
    first ``delivered`` of them before it died."""
    results = make_results(count)
    session = Session()
    target = CollectTarget(fake.url, **FAST)
    target.open_session(session)
    target.send_batch(session, results[:delivered], {})
    ledger, tracker = Ledger(["collect"]), Tracker(["collect"], lambda message: None)
    handed_over(ledger, tracker, results)
    tracker.resolved("collect", results[:delivered], "delivered")
    acknowledge(ledger, tracker)
    return ledger, Facts(opened={"collect": target.state()}), session


def test_takeover_resumes_the_session_and_sends_only_what_is_missing(fake, tmp_path) -> None:
    ledger, facts, session = child_run(fake, count=30, delivered=12)
    takeover = Takeover([CollectTarget(fake.url, **FAST)], tmp_path, session, ledger, facts, "died")
    later = make_results(35)[30:]  # handed over after the child died
    takeover.submit_items(later)
    for result in make_results(35):
        session.count(result)
    session.finish()
    (state,) = takeover.finish(session, 20.0)
    assert (state.delivered, state.undelivered, state.closed) == (35, 0, True)
    assert state.errors[0] == "died"
    assert len(fake.sessions) == 1  # resumed, never opened twice
    assert len(fake.unique_items()) == 35 and set(fake.deliveries.values()) == {1}
    assert fake.sessions["s1"]["closed"] and fake.sessions["s1"]["order"][-1] == "close"


def test_takeover_leaves_a_session_the_child_closed_alone(fake, tmp_path) -> None:
    ledger, facts, session = child_run(fake, count=5, delivered=5)
    facts.closed["collect"] = False
    session.finish()
    takeover = Takeover([CollectTarget(fake.url, **FAST)], tmp_path, session, ledger, facts, "died")
    (state,) = takeover.finish(session, 5.0)
    assert (state.delivered, state.undelivered, state.closed) == (5, 0, True)
    assert len(fake.requests) == 2  # the child's open and batch: nothing from the takeover


def test_takeover_joins_a_journal_whose_opening_is_spooled(fake, tmp_path: Path) -> None:
    """The child could not open the session and spooled its opening: so does everything else,
    in the same journal, so that replay opens the session once and delivers all in order."""
    results = make_results(8)
    session = Session()
    journal = Journal(tmp_path, "collect", session)
    journal.add_open()
    journal.add_results(results[:3], {}, "the service was down")
    journal.close()
    ledger, tracker = Ledger(["collect"]), Tracker(["collect"], lambda message: None)
    handed_over(ledger, tracker, results[:6])
    tracker.resolved("collect", results[:3], "spooled")
    acknowledge(ledger, tracker)
    takeover = Takeover(
        [CollectTarget(fake.url, **FAST)], tmp_path, session, ledger, Facts(), "died"
    )
    takeover.submit_items(results[6:])
    session.finish()
    (state,) = takeover.finish(session, 5.0)
    assert (state.spooled, state.close_spooled, state.lost) == (8, True, 0)
    assert not fake.requests
    (path,) = find_journals(tmp_path)
    assert [e.kind for e in read_journal(path).pending] == ["open", *["results"] * 3, "close"]
    echo: list[str] = []
    assert replay(tmp_path, lambda n, e: CollectTarget(fake.url, **FAST), echo=echo.append,
                  env={}) == 0, echo  # fmt: skip
    assert len(fake.sessions) == 1 and len(fake.unique_items()) == 8
    assert fake.sessions["s1"]["order"][-1] == "close"


def test_takeover_cleans_what_it_spools_or_sends(fake, tmp_path: Path) -> None:
    """The pytest process keeps results as tests wrote them (the delivery process cleans them):
    a takeover cleans them before its journal or a target sees them."""
    secret = "takeover-secret-value-0000"
    results = make_results(4)
    for result in results:
        result.stdout = f"printed {secret} and a lone \ud800"
    session = Session()
    journal = Journal(tmp_path, "collect", session)
    journal.add_open()
    journal.close()
    ledger, tracker = Ledger(["collect"]), Tracker(["collect"], lambda message: None)
    handed_over(ledger, tracker, results[:2])
    takeover = Takeover([CollectTarget(fake.url, **FAST)], tmp_path, session, ledger, Facts(),
                        "died", (secret,))  # fmt: skip
    takeover.submit_items(results[2:])
    session.finish()
    (state,) = takeover.finish(session, 5.0)
    assert state.spooled == 4
    (path,) = find_journals(tmp_path)
    text = path.read_text("utf-8")
    assert secret not in text and "\\ud800" not in text
    assert text.count("printed *** and a lone \ufffd") == 4
