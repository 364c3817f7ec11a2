"""A result keeps its failures per phase; each target renders from the list what it always did.

The expected texts below are what the targets sent when the failures were joined into one text
as the result was made (before the list): call failure + teardown error, setup error + teardown
error, subtest failures. The last tests replay a journal line written in that older shape.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Optional

from pytest_testreport.engine.replay import replay
from pytest_testreport.engine.spool import Journal, read_journal
from pytest_testreport.failures import from_joined, joined, per_phase
from pytest_testreport.model import Failure, Outcome, Session, TestId, TestResult
from pytest_testreport.reports import ResultAssembler
from pytest_testreport.targets.browserstack import mapping as bsmap
from pytest_testreport.targets.buddy.junit import data_fragment
from pytest_testreport.targets.buildkite import mapping as bkmap

from .engine_helpers import CollectFake, CollectTarget

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
CALL = Failure("assert 1 == 2", "call", [">       assert 1 == 2", "E       assert 1 == 2"])
SETUP = Failure("ValueError: no db", "setup", ["E   ValueError: no db"])
TEARDOWN = Failure("RuntimeError: cleanup failed", "teardown", ["E   RuntimeError: cleanup"])
SUB_1 = Failure("subtest [a]: assert 0", "subtest", ["E   assert 0"])
SUB_2 = Failure("subtest [b] i=1: assert 1 != 1", "subtest", ["E   assert 1 != 1"])


def result(outcome: Outcome, *failures: Failure) -> TestResult:
    test = TestId.of("tests/test_a.py::TestA::test_x[1]", ("tests/test_a.py", 11, ""))
    return TestResult(test=test, outcome=outcome, started_at=T0, finished_at=T0,
                      durations={"setup": 0.1, "call": 0.1, "teardown": 0.1}, duration=0.3,
                      failures=list(failures))  # fmt: skip


def buddy(res: TestResult) -> tuple[str, str, str]:
    """(element, message, text) of the fragment's failure or error."""
    case = ET.fromstring(data_fragment(res, []))
    element = case.find("failure") if case.find("failure") is not None else case.find("error")
    assert element is not None
    return element.tag, element.get("message", ""), element.text or ""


def buildkite(res: TestResult) -> dict[str, Any]:
    return bkmap.to_execution(res, T0.timestamp(), "tests/test_a.py", {}, lambda k, p: None)


def browserstack(res: TestResult) -> list[list[str]]:
    return [entry["backtrace"] for entry in bsmap.test_finish(res, {}, [])["failure"]]


def test_a_call_failure_then_a_teardown_error() -> None:
    res = result(Outcome.FAILED, CALL, TEARDOWN)
    message = "assert 1 == 2 (teardown error: RuntimeError: cleanup failed)"
    lines = [*CALL.traceback, "", "teardown error:", *TEARDOWN.traceback]
    assert res.failure == Failure(message, "call", lines)
    assert buddy(res) == ("failure", message, "\n".join(lines))
    record = buildkite(res)
    assert record["failure_reason"] == message
    assert record["failure_expanded"][0]["expanded"] == lines
    assert "test.phase" not in record["tags"]
    assert browserstack(res) == [CALL.traceback, TEARDOWN.traceback]
    assert bsmap.tags_and_metadata(res)[1]["pytest.phase"] == "call"


def test_a_setup_error_then_a_teardown_error() -> None:
    res = result(Outcome.ERROR, SETUP, TEARDOWN)
    lines = [*SETUP.traceback, "", "teardown error:", *TEARDOWN.traceback]
    assert res.failure == Failure(SETUP.message, "setup", lines)
    assert buddy(res) == ("error", f"error in setup: {SETUP.message}", "\n".join(lines))
    record = buildkite(res)
    assert record["failure_reason"] == SETUP.message
    assert record["tags"]["test.phase"] == "setup"
    assert browserstack(res) == [SETUP.traceback, TEARDOWN.traceback]


def test_subtest_failures_follow_the_call() -> None:
    only = result(Outcome.FAILED, SUB_1, SUB_2)
    lines = [SUB_1.message, *SUB_1.traceback, SUB_2.message, *SUB_2.traceback]
    assert only.failure == Failure(f"{SUB_1.message}; {SUB_1.message}", "call", lines)
    assert browserstack(only) == [lines]
    with_call = result(Outcome.FAILED, SUB_1, CALL, TEARDOWN)
    message = f"{CALL.message} (teardown error: {TEARDOWN.message}); {SUB_1.message}"
    joined_lines = [*CALL.traceback, "", "teardown error:", *TEARDOWN.traceback,
                    SUB_1.message, *SUB_1.traceback]  # fmt: skip
    assert with_call.failure == Failure(message, "call", joined_lines)
    assert buddy(with_call) == ("failure", message, "\n".join(joined_lines))
    # The subtests' texts go with the last phase, as the joined text always had them.
    assert browserstack(with_call) == [
        CALL.traceback, [*TEARDOWN.traceback, SUB_1.message, *SUB_1.traceback]
    ]  # fmt: skip
    one = result(Outcome.FAILED, SUB_1)
    assert one.failure == Failure(SUB_1.message, "call", [SUB_1.message, *SUB_1.traceback])


def test_an_empty_phase_traceback_shows_the_joined_message() -> None:
    bare = Failure("RuntimeError: gone", "teardown", [])
    shown = "assert 1 == 2 (teardown error: RuntimeError: gone)"
    assert per_phase([CALL, bare]) == [("call", CALL.traceback), ("teardown", [shown])]
    assert per_phase([]) == [] and joined([]) is None


# -- the assembler keeps the phases apart ---------------------------------------------------------
class _Crash:
    def __init__(self, message: str) -> None:
        self.message = message


class _Longrepr:
    def __init__(self, message: str) -> None:
        self.reprcrash = _Crash(message)


class Report:
    """The attributes of a pytest phase report that the assembler reads."""

    location = ("tests/test_a.py", 11, "TestA.test_x")
    duration = 0.1

    def __init__(self, when: str, outcome: str, message: Optional[str] = None) -> None:
        self.nodeid = "tests/test_a.py::TestA::test_x"
        self.when, self.outcome = when, outcome
        self.longrepr = _Longrepr(message) if message else None
        self.longreprtext = f"E   {message}" if message else ""
        self.failed = outcome == "failed"
        self.sections: list[tuple[str, str]] = []


class SubtestReport(Report):
    class context:  # as pytest's SubtestReport spells it
        msg = "a"
        kwargs: ClassVar[dict[str, int]] = {"i": 1}


def assemble(*reports: Report) -> TestResult:
    assembler = ResultAssembler()
    done = [res for report in reports for res in assembler.add(report)]
    assert len(done) == 1
    return done[0]


def test_the_assembler_keeps_each_failing_phase_in_order() -> None:
    failed = assemble(Report("setup", "passed"), Report("call", "failed", "assert 1 == 2"),
                      Report("teardown", "failed", "RuntimeError: x"))  # fmt: skip
    assert failed.outcome is Outcome.FAILED
    assert [(f.phase, f.message) for f in failed.failures] == [
        ("call", "assert 1 == 2"), ("teardown", "RuntimeError: x")
    ]  # fmt: skip
    errored = assemble(Report("setup", "failed", "ValueError: db"),
                       Report("teardown", "failed", "OSError: fin"))  # fmt: skip
    assert errored.outcome is Outcome.ERROR
    assert [f.phase for f in errored.failures] == ["setup", "teardown"]
    assert errored.failure is not None and errored.failure.traceback == [
        "E   ValueError: db", "", "teardown error:", "E   OSError: fin"
    ]  # fmt: skip
    subtests = assemble(Report("setup", "passed"), SubtestReport("call", "failed", "assert 0"),
                        Report("call", "passed"), Report("teardown", "passed"))  # fmt: skip
    assert subtests.outcome is Outcome.FAILED
    assert [(f.phase, f.message) for f in subtests.failures] == [
        ("subtest", "subtest [a] i=1: assert 0")
    ]
    assert subtests.test == TestId(
        "tests/test_a.py::TestA::test_x", "tests/test_a.py", "test_x", 12,
        ("tests/test_a.py", "TestA"),
    )  # fmt: skip


# -- results spooled by the version that joined the failures -------------------------------------
OLD_LINE = {
    "nodeid": "tests/test_a.py::TestA::test_x[1]", "path": "tests/test_a.py",
    "name": "test_x[1]", "outcome": "failed", "started_at": "2026-01-02T03:04:05Z",
    "finished_at": "2026-01-02T03:04:05Z", "uuid": "00000000-0000-4000-8000-000000000001",
    "line": 12, "scopes": ["tests/test_a.py", "TestA"], "kind": "test", "reason": None,
    "failure": {
        "message": "assert 1 == 2 (teardown error: RuntimeError: cleanup failed)",
        "phase": "call",
        "traceback": [">       assert 1 == 2", "E       assert 1 == 2", "", "teardown error:",
                      "E   RuntimeError: cleanup"],
    },
    "durations": {"setup": 0.1, "call": 0.1, "teardown": 0.1}, "duration": 0.3, "stdout": "",
    "stderr": "", "log": "", "steps": [], "fixtures": [], "logs": [], "metadata": [],
    "tags": [], "attempt": 1, "final": True, "worker": None,
}  # fmt: skip


def test_an_old_result_reads_into_phases_that_join_back_to_its_text() -> None:
    old = TestResult.model_validate(OLD_LINE)
    assert old.test == result(Outcome.FAILED).test
    assert old.failures == [
        Failure("assert 1 == 2", "call", CALL.traceback),
        Failure("RuntimeError: cleanup failed", "teardown", TEARDOWN.traceback),
    ]
    assert old.failure == Failure(**OLD_LINE["failure"])  # type: ignore[arg-type]
    assert browserstack(old) == [CALL.traceback, TEARDOWN.traceback]
    # What does not join back the same stays one failure: a line that only looks like a mark.
    odd = Failure("boom", "call", ["E  boom", "setup error:", "E  more"])
    assert from_joined(odd) == [odd]
    assert TestResult.model_validate(TestResult.model_validate(OLD_LINE).model_dump("json")) \
        .failures == old.failures  # fmt: skip


def test_an_old_journal_line_replays(tmp_path: Path) -> None:
    with CollectFake() as fake:
        session = Session(pytest_version="9")
        target = CollectTarget(fake.url)
        target.open_session(session)
        journal = Journal(tmp_path, "collect", session)
        journal.set_state(target.state())
        journal.add_results([result(Outcome.FAILED, CALL)], {}, "spooled for the test")
        session.finish()
        journal.add_close(session)
        journal.close()
        target.release()
        lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
        for record in lines:
            if record["kind"] == "results":
                record["results"] = [OLD_LINE]
        journal.path.write_text("".join(json.dumps(r) + "\n" for r in lines))
        (spooled,) = read_journal(journal.path).readable_results()
        assert [f.phase for f in spooled.failures] == ["call", "teardown"]

        out: list[str] = []
        code = replay(tmp_path, lambda name, env: CollectTarget(fake.url), env={},
                      echo=out.append)  # fmt: skip
        assert code == 0, out
        (delivered,) = [s["items"] for s in fake.sessions.values() if s["items"]]
        assert delivered == {OLD_LINE["uuid"]: {"uuid": OLD_LINE["uuid"], "name": "test_x[1]",
                                                "outcome": "failed"}}  # fmt: skip
        assert not list(tmp_path.glob("*.jsonl"))
    assert TestResult.model_validate({**OLD_LINE, "failure": None}).failures == []
