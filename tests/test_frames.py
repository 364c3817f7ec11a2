"""Frames to the delivery process (engine/frames.py): what goes in comes out, field for field."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from pytest_testreport.engine.frames import pack, unpack
from pytest_testreport.engine.ledger import Ledger
from pytest_testreport.model import (
    Failure,
    FixtureRun,
    LogEntry,
    Outcome,
    ResultKind,
    Step,
    TestId,
    TestResult,
    TestStart,
    from_epoch,
)

WHEN = from_epoch(1_765_000_000.123456)
LATER = WHEN + timedelta(seconds=1, microseconds=7)


def _full() -> TestResult:
    """A result with every field set to something other than its default."""
    test = TestId("tests/test_a.py::TestA::test_b[x::y]", "tests/test_a.py", "test_b[x::y]", 12,
                  ("tests/test_a.py", "TestA"))  # fmt: skip
    return TestResult(
        test=test, outcome=Outcome.FAILED, started_at=WHEN, finished_at=LATER, uuid="u-1",
        kind=ResultKind.CRASH, reason="why", durations={"setup": 0.5, "call": 1.25},
        failures=[Failure("boom", "call", ["line 1", "E  boom"]), Failure("td", "teardown")],
        duration=1.75, stdout="out", stderr="err", log="log",
        steps=[Step("open", WHEN, id="s1"), Step("close", WHEN, id="s2", parent_id="s1",
                                                 keyword="When", finished_at=LATER,
                                                 result="failed", failure="nope")],
        fixtures=[FixtureRun("db", "session", "setup", WHEN, LATER, "E: no db"),
                  FixtureRun("db", "session", "teardown", LATER, LATER)],
        logs=[LogEntry(WHEN, "WARNING", "careful")], metadata=[("k", "v")], tags=["slow"],
        attempt=3, final=False, worker="gw1",
    )  # fmt: skip


@dataclasses.dataclass(eq=False)
class Mine(TestResult):
    """A result class of someone else's (a subclass): pickled as it is."""

    __test__ = False


def _fields(item: object) -> dict[str, object]:
    return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}  # type: ignore[arg-type]


def test_every_field_of_a_result_and_a_start_comes_back() -> None:
    start = TestStart("u-1", _full().test, WHEN, attempt=3, tags=["slow"], metadata=[("k", "v")])
    plain = TestResult(TestId.of("t.py::test"), Outcome.PASSED, WHEN, WHEN)
    items = [_full(), start, plain]
    back = unpack(pack(items))
    assert [type(item) for item in back] == [TestResult, TestStart, TestResult]
    for before, after in zip(items, back):
        assert _fields(after) == _fields(before)
        assert after.model_dump(mode="json") == before.model_dump(mode="json")
    assert [type(f) for f in back[0].fixtures] == [FixtureRun, FixtureRun]
    assert back[0].steps[1].parent_id == "s1" and back[0].logs[0].level == "WARNING"


def test_what_is_not_a_model_object_travels_as_it_is() -> None:
    """A subclass, or a value a result hook put in place of a model object, is not flattened."""
    result = _full()
    result.fixtures = []  # an empty list stays a list
    result.tags = ("a", "b")  # type: ignore[assignment]
    result.started_at = datetime(2025, 1, 2, 3, 4, 5)  # naive: not ours, kept exactly
    odd = Mine(TestId.of("t.py::odd"), Outcome.SKIPPED, WHEN, WHEN)
    back = unpack(pack([result, odd]))
    assert back[0].fixtures == [] and back[0].tags == ("a", "b")
    assert back[0].started_at == datetime(2025, 1, 2, 3, 4, 5) and back[0].started_at.tzinfo is None
    assert type(back[1]) is Mine and back[1].nodeid == "t.py::odd"
    assert back[0].finished_at.tzinfo is timezone.utc


def test_the_ledger_gives_back_what_it_kept() -> None:
    """What a dead delivery process had not confirmed is read back from the frames' bytes."""
    ledger = Ledger(["local"])
    result = _full()
    first, data = ledger.add([TestStart("u-1", result.test, WHEN), result])
    assert first == 0 and ledger.handed == 1 and unpack(data)[1].uuid == "u-1"
    (missing,) = ledger.outstanding()["local"]
    assert missing.model_dump(mode="json") == result.model_dump(mode="json")
