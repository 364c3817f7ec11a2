"""The BrowserStack target's pure mapping functions: payloads, limits, hooks and logs.

Runs against the fake are in tests/test_browserstack_runs.py; outcomes in
tests/test_outcome_suite.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pytest_testreport.ci import CIInfo
from pytest_testreport.model import Failure, Outcome, ResultKind, Session, Step, TestResult
from pytest_testreport.targets.browserstack import config as bsconfig
from pytest_testreport.targets.browserstack import hooks as bshooks
from pytest_testreport.targets.browserstack import mapping as bsmap
from tests.fakes import browserstack_rules as rules

pytest.importorskip("xdist")

T0 = datetime(2025, 11, 11, 10, 30, 10, tzinfo=timezone.utc)


def result(**over: object) -> TestResult:
    base: dict[str, object] = {
        "nodeid": "tests/test_a.py::TestA::test_x",
        "path": "tests/test_a.py",
        "line": 12,
        "scopes": ["tests/test_a.py", "TestA"],
        "name": "test_x",
        "outcome": Outcome.PASSED,
        "durations": {"setup": 0.01, "call": 0.2, "teardown": 0.01},
        "duration": 0.22,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=0.22),
    }
    base.update(over)
    return TestResult.model_validate(base)


def valid(r: TestResult, hooks: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Both payloads of a test run, checked by the fake's validators (every documented limit)."""
    start, finish = bsmap.test_start(r, {"os": "Linux"}), bsmap.test_finish(r, {}, list(hooks))
    rules.run_start(json.loads(json.dumps(start)), hook=False)
    rules.run_finish(json.loads(json.dumps(finish)), hook=False)
    return start, finish


# -- mapping ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("outcome", "message", "expected"),
    [
        (Outcome.PASSED, None, "passed"),
        (Outcome.XPASSED, None, "passed"),
        (Outcome.FAILED, "assert 0", "failed"),
        (Outcome.ERROR, "fixture broke", "failed"),
        (Outcome.SKIPPED, None, "skipped"),
        (Outcome.XFAILED, None, "skipped"),
        (Outcome.FAILED, "Failed: Timeout (>1.0s) from pytest-timeout.", "timeout"),
        (Outcome.FAILED, "Failed: Timeout >5.0s", "timeout"),
    ],
)
def test_status_mapping(outcome: Outcome, message: str | None, expected: str) -> None:
    failure = Failure(message=message, phase="call", traceback=[message]) if message else None
    r = result(outcome=outcome, failure=failure)
    assert bsmap.status(r) == expected
    _, finish = valid(r)
    assert finish["result"] == expected
    assert ("failure" in finish) == (expected in ("failed", "timeout"))


def test_identity_fields_and_metadata() -> None:
    r = result(outcome=Outcome.SKIPPED, reason="later", worker="gw1", attempt=2, final=False,
               tags=["smoke"], metadata=[("ticket", "A-1"), ("ticket", "A-2"),
                                         ("browserstack_browser", "firefox")])  # fmt: skip
    start, finish = valid(r)
    assert start["scopes"] == ["tests/test_a.py", "TestA"]
    assert start["location"] == "tests/test_a.py:12"
    assert start["tags"] == ["rerun", "smoke"]
    assert start["environment"] == {"os": "Linux", "browser": "firefox"}
    assert start["custom_metadata"] == finish["custom_metadata"] == {
        "attempt": "2", "testreport.id": r.uuid, "pytest.nodeid": r.nodeid,
        "pytest.outcome": "skipped", "pytest.reason": "later", "pytest.worker": "gw1",
        "pytest.final": "false", "ticket": ["A-1", "A-2"],
    }  # fmt: skip
    assert finish["duration_in_ms"] == 220 and finish["finished_at"] == "2025-11-11T10:30:10.220Z"


def test_every_limit_is_applied_with_a_marker() -> None:
    long_id = "p" * 3000
    r = result(
        name=f"test_x[{long_id}]",
        nodeid=f"tests/test_a.py::test_x[{long_id}]",
        path="d/" * 600 + "test_a.py",
        scopes=["x"] + [f"C{i}" + "c" * 150 for i in range(25)],
        tags=[f"mark{i}" for i in range(60)] + ["t" * 300],
        metadata=[(f"k{i}", "v" * 900) for i in range(30)] + [("many", str(i)) for i in range(12)],
        outcome=Outcome.FAILED,
        failure=Failure(message="boom", phase="call",
                        traceback=[f"line {i} " + "z" * 2500 for i in range(50_000)]),
        steps=[Step(text="s" * 3000, started_at=T0, finished_at=T0, result="failed",
                    failure="f" * 9000)],
        duration=0.0,
    )  # fmt: skip
    start, finish = valid(r)
    assert len(start["name"]) <= 500 and "[#" in start["name"] and "truncated" in start["name"]
    other = bsmap.test_name(f"test_x[{'q' * 3000}]")
    assert other != start["name"]  # cut names stay distinct
    assert start["file_name"].startswith("…") and start["file_name"].endswith("test_a.py")
    assert start["location"].endswith("test_a.py:12") and len(start["location"]) <= 1000
    assert len(start["scopes"]) == 20 and "scopes omitted" in start["scopes"][1]
    assert start["scopes"][0].endswith("test_a.py")
    assert len(start["tags"]) == 50
    custom = start["custom_metadata"]
    assert len(custom) == 25
    notes = " ".join(custom[bsmap.NOTES_KEY])
    assert "tags not sent" in notes and "metadata keys not sent" in notes
    assert all(len(v) <= 500 for v in custom.values() if isinstance(v, str))
    backtrace = finish["failure"][0]["backtrace"]
    assert len(backtrace) == 1000 and "earlier lines truncated" in backtrace[0]
    assert backtrace[-1].startswith("line 49999") and len(backtrace[-1]) == 2000
    step = finish["meta"]["steps"][0]
    assert len(step["failure"]) == 5000 and "truncated" in step["failure"]
    assert finish["duration_in_ms"] == 1  # the API refuses 0


def test_repeated_metadata_values_are_capped() -> None:
    _, finish = valid(result(metadata=[("many", str(i)) for i in range(12)]))
    values = finish["custom_metadata"]["many"]
    assert len(values) == 10 and values[-1] == "… [3 more values not sent]"


def test_failure_per_phase_and_hooks() -> None:
    failure = Failure(message="boom", phase="call",
                      traceback=["E  boom", "", "teardown error:", "E  cleanup"])  # fmt: skip
    r = result(outcome=Outcome.FAILED, failure=failure,
               durations={"setup": 2.0, "call": 0.1, "teardown": 0.01})  # fmt: skip
    _, finish = valid(r, hooks=("h1",))
    assert [f["backtrace"] for f in finish["failure"]] == [["E  boom"], ["E  cleanup"]]
    assert bshooks.hook_phases(r, "slow-or-failed", 1.0) == ["setup", "teardown"]
    assert bshooks.hook_phases(r, "none", 1.0) == []
    assert bshooks.hook_phases(result(), "slow-or-failed", 1.0) == []
    assert bshooks.hook_phases(result(), "all", 1.0) == ["setup", "teardown"]
    setup, teardown = bshooks.hook_finish(r, "setup"), bshooks.hook_finish(r, "teardown")
    assert (setup["result"], setup["hook_type"], setup["duration_in_ms"]) == (
        "passed", "beforeEach", 2000)  # fmt: skip
    assert (teardown["result"], teardown["hook_type"]) == ("failed", "afterEach")
    assert teardown["failure"] == [{"backtrace": ["E  cleanup"]}]
    start = bshooks.hook_start(r, "teardown", "run-1", {})
    assert start["test_run_id"] == "run-1" and start["started_at"] == "2025-11-11T10:30:10.210Z"
    for body, check in ((start, rules.run_start), (setup, rules.run_finish)):
        check(body, hook=True)


def test_collection_error_scopes_and_logs() -> None:
    r = result(nodeid="tests/test_b.py", path="tests/test_b.py", scopes=[], name="test_b.py",
               kind=ResultKind.COLLECTION_ERROR, outcome=Outcome.ERROR, line=None,
               failure=Failure(message="ImportError", phase="collect", traceback=["E  nope"]),
               log="ERROR    app:x.py:1 first\nTraceback:\n  more\nINFO     app:x.py:2 second",
               stdout="o" * 25_000)  # fmt: skip
    start, _finish = valid(r)
    assert start["scopes"] == ["tests/test_b.py"] and start["location"] == "tests/test_b.py"
    assert start["custom_metadata"]["pytest.outcome"] == "collection_error"
    entries = bshooks.log_entries(r, "run-1")
    assert [e["level"] for e in entries[:2]] == ["ERROR", "INFO"]
    assert entries[0]["message"].endswith("more")  # a multi-line record stays one entry
    assert len(entries) == 5 and all(len(e["message"]) <= 10_000 for e in entries)
    many = bshooks.log_entries(result(log="\n".join(f"INFO x {i}" for i in range(2000))), "r")
    assert len(many) == 500 and any("log entries not sent" in e["message"] for e in many)
    rules.logs({"logs": many})


def test_build_payload_limits() -> None:
    ci = CIInfo(provider="github_actions", is_ci=True, run_id="9" * 80, run_attempt="2",
                revision="abc", branch="main", job_name="tests")  # fmt: skip
    session = Session(ci=ci, hostname="h", pytest_version="9.0")
    body = bsmap.build_start(session, "n" * 400, "p" * 300, [f"t{i}" for i in range(60)])
    rules.build_start(body)
    assert len(body["name"]) == 255 and len(body["project_name"]) == 255
    assert len(body["tags"]) == 50 and body["tags"][-1] == "… [11 more tags]"
    assert len(body["build_run_identifier"]) <= 64
    gitlab = CIInfo(provider="gitlab", is_ci=True, run_id="77")
    assert bsmap.build_run_identifier(gitlab) == "gitlab-77"
    assert bsmap.build_run_identifier(CIInfo()) is None
    assert body["framework"] == {"name": "pytest", "version": "9.0"}
    assert body["version_control"]["branch"] == "main"
    assert bsmap.default_build_name(ci) == "tests"
    assert bsmap.default_build_name(CIInfo()) == "pytest"


def test_environment_option() -> None:
    assert bsconfig.parse_environment("browser=chrome, os_version=11") == {
        "browser": "chrome", "os_version": "11"}  # fmt: skip
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        bsconfig.parse_environment("colour=blue")


# -- fixture scopes and log times -------------------------------------------------------------
def test_fixture_records_split_a_phase_by_scope() -> None:
    from pytest_testreport.model import FixtureRun

    def fx(name: str, scope: str, phase: str, start: float, stop: float, failure=None):
        return FixtureRun(name=name, scope=scope, phase=phase,  # type: ignore[arg-type]
                          started_at=T0 + timedelta(seconds=start),
                          finished_at=T0 + timedelta(seconds=stop), failure=failure)  # fmt: skip

    # fn (function) depends on db (module): db's setup runs inside fn's and is not counted twice.
    fixtures = [fx("fn", "function", "setup", 0.0, 2.0), fx("db", "module", "setup", 0.5, 1.8),
                fx("fn", "function", "teardown", 2.3, 2.4),
                fx("db", "module", "teardown", 2.4, 3.9, failure="RuntimeError: gone")]  # fmt: skip
    failure = Failure(message="gone", phase="teardown", traceback=["E  RuntimeError: gone"])
    r = result(outcome=Outcome.ERROR, failure=failure, fixtures=fixtures,
               durations={"setup": 2.0, "call": 0.3, "teardown": 1.6}, duration=3.9,
               finished_at=T0 + timedelta(seconds=3.9))  # fmt: skip
    hooks = bshooks.hook_runs(r, "all", 1.0)
    assert [(h.key, h.hook_type, round(h.duration, 2), h.result) for h in hooks] == [
        ("beforeAll", "beforeAll", 1.3, "passed"), ("beforeEach", "beforeEach", 0.7, "passed"),
        ("afterEach", "afterEach", 0.1, "passed"), ("afterAll", "afterAll", 1.5, "failed"),
    ]  # fmt: skip
    assert [h.key for h in bshooks.hook_runs(r, "slow-or-failed", 1.0)] == ["beforeAll", "afterAll"]
    assert [h.key for h in bshooks.hook_runs(r, "slow-or-failed", 0.5)] == [
        "beforeAll", "beforeEach", "afterAll"]  # fmt: skip
    assert bshooks.hook_runs(r, "none", 0.0) == []
    before_all, after_all = hooks[0], hooks[3]
    start = bshooks.hook_start(r, before_all, "run-1", {})
    finish = bshooks.hook_finish(r, after_all)
    assert (start["hook_type"], start["started_at"]) == ("beforeAll", "2025-11-11T10:30:10.500Z")
    assert "db" in start["name"]
    assert (finish["hook_type"], finish["duration_in_ms"]) == ("afterAll", 1500)
    assert finish["failure"] == [{"backtrace": ["E  RuntimeError: gone"]}]
    rules.run_start(json.loads(json.dumps(start)), hook=True)
    rules.run_finish(json.loads(json.dumps(finish)), hook=True)
    # Without records a phase stays one beforeEach/afterEach hook run, as before.
    assert [h.key for h in bshooks.hook_runs(result(), "all", 1.0)] == ["setup", "teardown"]


def test_log_entries_keep_their_own_times() -> None:
    from pytest_testreport.model import LogEntry

    logs = [
        LogEntry(timestamp=T0 + timedelta(seconds=0.25), level="ERROR", message="second"),
        LogEntry(timestamp=T0 + timedelta(seconds=0.1), level="WARNING", message="first"),
    ]
    r = result(outcome=Outcome.FAILED, logs=logs, log="WARNING x first\nERROR x second",
               stdout="out")  # fmt: skip
    entries = bshooks.log_entries(r, "run-1")
    assert [(e["timestamp"], e["level"], e["message"]) for e in entries] == [
        ("2025-11-11T10:30:10.100Z", "WARN", "first"),
        ("2025-11-11T10:30:10.250Z", "ERROR", "second"),
        ("2025-11-11T10:30:10.000Z", "INFO", "[stdout]\nout"),
    ]
    rules.logs({"logs": entries})
