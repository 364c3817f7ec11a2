"""The Buildkite Test Engine target's mapping (pure), its uploads in-process, reading back.

Runs against the fake are in tests/test_buildkite_runs.py; outcomes in
tests/test_outcome_suite.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from pytest_testreport.ci import CIInfo
from pytest_testreport.config import settings_from_env
from pytest_testreport.engine.errors import RetryableError
from pytest_testreport.model import Failure, Outcome, ResultKind, Session, Step, TestResult
from pytest_testreport.targets.buildkite import mapping as bkmap
from pytest_testreport.targets.buildkite import target as bk
from pytest_testreport.targets.buildkite.reader import Paths, run_session
from tests.buildkite_helpers import (
    nodeid,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def result(**kw: Any) -> TestResult:
    values: dict[str, Any] = {
        "nodeid": "tests/test_a.py::TestA::test_x[1]",
        "path": "tests/test_a.py",
        "line": 12,
        "scopes": ["tests/test_a.py", "TestA"],
        "name": "test_x[1]",
        "outcome": Outcome.PASSED,
        "started_at": T0 + timedelta(seconds=3),
        "finished_at": T0 + timedelta(seconds=4),
        "duration": 0.75,
    }
    values.update(kw)
    return TestResult.model_validate(values)


def failure(phase: str = "call", message: str = "boom", lines: int = 3) -> Failure:
    trace = [f"tests/test_a.py:{n}: in test_x" for n in range(lines)]
    return Failure(message=message, phase=phase, traceback=trace)


def mapped(res: TestResult, tags: dict[str, str] | None = None) -> dict[str, Any]:
    dropped: list[tuple[str, str]] = []
    record = bkmap.to_execution(
        res, T0.timestamp(), "tests/test_a.py", tags or {}, lambda k, p: dropped.append((k, p))
    )
    record["dropped"] = dropped
    return record


# -- the mapping (pure) ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "expected", "tags"),
    [
        ({}, "passed", {}),
        ({"outcome": Outcome.FAILED, "failure": failure()}, "failed", {}),
        ({"outcome": Outcome.ERROR, "failure": failure("setup")}, "failed",
         {"test.phase": "setup", "pytest.outcome": "error"}),
        ({"outcome": Outcome.ERROR, "failure": failure("teardown")}, "failed",
         {"test.phase": "teardown", "pytest.outcome": "error"}),
        ({"outcome": Outcome.SKIPPED}, "skipped", {}),
        ({"outcome": Outcome.XFAILED}, "skipped", {"pytest.outcome": "xfailed"}),
        ({"outcome": Outcome.XPASSED}, "passed", {"pytest.outcome": "xpassed"}),
        ({"outcome": Outcome.FAILED, "failure": failure(message="[XPASS(strict)] why")},
         "failed", {"pytest.outcome": "xpassed"}),
        ({"outcome": Outcome.ERROR, "kind": ResultKind.CRASH, "failure": failure("crash")},
         "failed", {"pytest.outcome": "crashed"}),
        ({"outcome": Outcome.ERROR, "kind": ResultKind.COLLECTION_ERROR,
          "failure": failure("collect")}, "failed", {"test.pytest_collection_error": "true"}),
        ({"outcome": Outcome.FAILED, "failure": failure(), "attempt": 2, "final": False},
         "failed", {"pytest.rerun": "true"}),
    ],
)  # fmt: skip
def test_result_and_tags(kw: dict[str, Any], expected: str, tags: dict[str, str]) -> None:
    record = mapped(result(**kw))
    assert record["result"] == expected
    assert record["tags"] == {"test.attempt": str(kw.get("attempt", 1)), **tags}
    assert ("failure_reason" in record) == (expected == "failed")


def test_execution_fields() -> None:
    start = T0 + timedelta(seconds=3.1)
    end = start + timedelta(seconds=0.2)
    step = Step(text="login", keyword="Given", started_at=start, finished_at=end,
                result="failed", failure="E: no")  # fmt: skip
    record = mapped(result(outcome=Outcome.FAILED, failure=failure(lines=500), steps=[step]))
    assert uuid.UUID(record["id"])
    assert (record["scope"], record["name"]) == ("tests/test_a.py::TestA", "test_x[1]")
    assert (record["location"], record["file_name"]) == ("tests/test_a.py:12", "tests/test_a.py")
    history = record["history"]
    assert (history["start_at"], history["end_at"], history["duration"]) == (3.0, 4.0, 0.75)
    (span,) = history["children"]
    assert (
        span["section"] == "annotation"
        and span["detail"]["content"] == "Given login (failed: E: no)"
    )
    assert span["start_at"] == pytest.approx(3.1) and span["duration"] == pytest.approx(0.2)
    (expanded,) = record["failure_expanded"]
    assert set(expanded) == {"expanded", "backtrace"}
    assert len(expanded["expanded"]) == bkmap.EXPANDED_LINES and "truncated" in "".join(
        expanded["expanded"]
    )
    assert expanded["backtrace"][:2] == ["tests/test_a.py:0", "tests/test_a.py:1"]
    assert len(expanded["backtrace"]) == bkmap.BACKTRACE_ENTRIES


def test_failure_text_is_bounded_and_clean() -> None:
    long = failure(message="x\x00y" + "z" * 5000)
    long.traceback = ["w" * 3000] * 100
    record = mapped(result(outcome=Outcome.FAILED, failure=long))
    assert "\x00" not in record["failure_reason"]
    assert len(record["failure_reason"]) == bkmap.REASON_CHARS
    size = sum(len(line) for line in record["failure_expanded"][0]["expanded"])
    assert size <= bkmap.EXPANDED_BYTES + 100


def test_times_share_the_session_clock_and_never_go_negative() -> None:
    early = result(started_at=T0 - timedelta(seconds=1), finished_at=T0 - timedelta(seconds=0.5))
    assert mapped(early)["history"]["start_at"] == 0.0
    assert mapped(early)["history"]["end_at"] == 0.0


@pytest.mark.parametrize(
    ("nodeid_", "scope", "name"),
    [
        ("a.py::test_x", "a.py", "test_x"),
        ("a.py::C::test_x[p::q]", "a.py::C", "test_x[p::q]"),
        ("a.py::test_x[a b]", "a.py", "test_x[a b]"),
    ],
)
def test_split_nodeid(nodeid_: str, scope: str, name: str) -> None:
    assert bkmap.split_nodeid(nodeid_) == (scope, name)


@pytest.mark.parametrize(
    ("cwd", "prefix", "path", "expected"),
    [
        ("/r", None, "tests/a.py", "tests/a.py"),
        ("/r/pkg", None, "pkg/tests/a.py", "tests/a.py"),
        ("/r/sub", None, "tests/a.py", "../tests/a.py"),
        ("/r", "payments/", "tests/a.py", "payments/tests/a.py"),
        ("/r/pkg", "mono", "pkg/a.py", "mono/a.py"),
        ("/r", "p", "<session>", "<session>"),
    ],
)
def test_file_name(cwd: str, prefix: str | None, path: str, expected: str) -> None:
    assert bk.file_name(path, "/r", cwd, prefix) == expected


def test_execution_tags_from_markers_and_metadata() -> None:
    metadata = [("execution_tag:area", "login"), ("execution_tag:area", "outer"),
                ("team", "core"), ("bad key", "x"), ("long", "v" * 200), ("mut.x", "1"),
                ("test", "clash"), ("test.attempt", "9"), ("service", "clash with upload"),
                ("ctl", "a\x01b")] + [(f"k{i}", str(i)) for i in range(12)]  # fmt: skip
    record = mapped(result(metadata=metadata), tags={"service.name": "api"})
    tags = record["tags"]
    assert tags["area"] == "login" and tags["team"] == "core" and tags["ctl"] == "ab"
    assert len(tags) == bkmap.MAX_TAGS and tags["test.attempt"] == "1"
    dropped = dict(record["dropped"])
    assert set(dropped) >= {"bad key", "long", "mut.x", "test", "test.attempt", "service", "k9"}
    assert "more than 10" in dropped["k9"] and "clashes" in dropped["service"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("team=core, python.version=3.12", {"team": "core", "python.version": "3.12"}),
        ('{"team": "core", "os": "linux"}', {"team": "core", "os": "linux"}),
        ("", {}),
    ],
)
def test_upload_tags_parse(text: str, expected: dict[str, str]) -> None:
    assert bkmap.parse_upload_tags(text) == expected


@pytest.mark.parametrize(
    "text",
    ["novalue", "1team=x", "team=", "a=1,a.b=2", "test=x", "mut=1", "[1]",
     ",".join(f"k{i}=v" for i in range(11))],
)  # fmt: skip
def test_upload_tags_refused(text: str) -> None:
    with pytest.raises(ValueError):
        bkmap.parse_upload_tags(text)


def session(**ci: Any) -> Session:
    return Session(ci=CIInfo(**ci), python_version="3.12.1", plugin_version="0.1.0")


def test_run_env_from_ci_and_overrides() -> None:
    s = session(provider="github_actions", is_ci=True, build_key="77-2", branch="feature/x",
                revision="abc", run_number="5", job_id="unit", commit_message="Fix\n\nbody",
                run_url="https://ci/77")  # fmt: skip
    env = bk.build_run_env(s, {})
    assert env == {"CI": "github_actions", "key": "77-2", "url": "https://ci/77",
                   "branch": "feature/x", "commit_sha": "abc", "number": "5", "job_id": "unit",
                   "message": "Fix\n\nbody", "collector": "pytest-testreport", "version": "0.1.0",
                   "language_version": "3.12.1", "test_runner": "pytest"}  # fmt: skip
    overrides = bk.read_overrides({
        "BUILDKITE_ANALYTICS_KEY": "k1", "BUILDKITE_ANALYTICS_BRANCH": "refs/heads/main",
        "BUILDKITE_ANALYTICS_SHA": "def", "BUILDKITE_ANALYTICS_NUMBER": "9",
        "BUILDKITE_ANALYTICS_JOB_ID": "j", "BUILDKITE_ANALYTICS_MESSAGE": "m",
        "BUILDKITE_ANALYTICS_URL": "https://u", "BUILDKITE_ANALYTICS_LOCATION_PREFIX": "sub/",
        "BUILDKITE_ANALYTICS_TOKEN": "not an override", "BUILDKITE_ANALYTICS_URL_X": "",
    })  # fmt: skip
    env = bk.build_run_env(s, overrides)
    assert {k: env[k] for k in overrides} == {
        "key": "k1", "branch": "main", "commit_sha": "def", "number": "9", "job_id": "j",
        "message": "m", "url": "https://u", "location_prefix": "sub/",
    }  # fmt: skip


def test_run_env_without_ci_uses_the_session_uuid() -> None:
    s = session(tag="v1.2")
    env = bk.build_run_env(s, {})
    assert env["key"] == s.uuid and env["CI"] == "generic" and env["branch"] == "v1.2"
    assert "location_prefix" not in env and "url" not in env


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BUILDKITE": "true", "BUILDKITE_BUILD_ID": "b-1", "BUILDKITE_BRANCH": "main",
          "BUILDKITE_COMMIT": "abc", "BUILDKITE_BUILD_NUMBER": "7", "BUILDKITE_JOB_ID": "j-1",
          "BUILDKITE_MESSAGE": "Fix it", "BUILDKITE_BUILD_URL": "https://buildkite.com/b/7"},
         {"CI": "buildkite", "key": "b-1", "branch": "main", "commit_sha": "abc", "number": "7",
          "job_id": "j-1", "message": "Fix it", "url": "https://buildkite.com/b/7"}),
        ({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "99", "GITHUB_RUN_ATTEMPT": "3",
          "GITHUB_REF": "refs/pull/5/merge", "GITHUB_HEAD_REF": "feature", "GITHUB_SHA": "f00",
          "GITHUB_JOB": "tests"},
         {"CI": "github_actions", "key": "99-3", "branch": "feature", "commit_sha": "f00",
          "job_id": "tests"}),
        ({"CIRCLECI": "true", "CIRCLE_WORKFLOW_ID": "wf", "CIRCLE_BUILD_NUM": "12",
          "CIRCLE_BRANCH": "main"},
         {"CI": "circleci", "key": "wf", "branch": "main", "number": "12"}),
        ({"GITLAB_CI": "true", "CI_PIPELINE_ID": "555", "CI_COMMIT_BRANCH": "dev"},
         {"CI": "gitlab", "key": "555", "branch": "dev"}),
    ],
)  # fmt: skip
def test_run_env_from_ci_variables(env: dict[str, str], expected: dict[str, str]) -> None:
    from pytest_testreport.ci import detect_ci

    s = Session(ci=detect_ci(env, use_git=False))
    run_env = bk.build_run_env(s, bk.read_overrides(env))
    assert {k: run_env.get(k) for k in expected} == expected


class _Http:
    """Stands in for HttpClient: records bodies, answers like Buildkite (or like a dry run)."""

    def __init__(self, answer: dict[str, Any] | None = None, fail_at: int | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.answer, self.fail_at = answer, fail_at

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        assert (method, path, kw["compress"], kw["idempotent"]) == ("POST", "uploads", True, True)
        if self.fail_at is not None and len(self.bodies) == self.fail_at:
            raise RetryableError("503 after 6 attempts")  # the engine spools the batch
        self.bodies.append(kw["json"])
        response = requests.Response()
        response.status_code = 202
        response._content = json.dumps(self.answer or {}).encode()
        return response

    def close(self) -> None:
        pass


def target(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, http: _Http, **env: str) -> Any:
    monkeypatch.chdir(tmp_path)
    settings = settings_from_env({"BUILDKITE_ANALYTICS_TOKEN": "t0ken", **env}, tmp_path)
    made = bk.BuildkiteTarget.from_settings(settings)
    made.http = http  # type: ignore[assignment]
    return made


def test_batches_split_at_5000_and_resume_from_progress(monkeypatch, tmp_path) -> None:
    http = _Http(fail_at=2)
    made = target(monkeypatch, tmp_path, http)
    s = session()
    made.open_session(s)
    results = [result(nodeid=f"a.py::t{i}") for i in range(12_000)]
    progress: dict[str, Any] = {}
    with pytest.raises(RetryableError):
        made.send_batch(s, results, progress)
    assert progress == {"sent": 10_000} and [len(b["data"]) for b in http.bodies] == [5000, 5000]
    http.fail_at = None
    made.send_batch(s, results, progress)
    assert [len(b["data"]) for b in http.bodies] == [5000, 5000, 2000]
    assert len({r["id"] for b in http.bodies for r in b["data"]}) == 12_000
    assert all(b["run_env"]["key"] == s.uuid and b["format"] == "json" for b in http.bodies)


def test_big_failures_make_smaller_uploads() -> None:
    big = [result(failure=failure(lines=2000), outcome=Outcome.FAILED)] * 600
    sizes = [len(c) for c in bk.chunks(big)]
    assert sum(sizes) == 600 and max(sizes) < 600


def test_answers_are_read(monkeypatch, tmp_path) -> None:
    answer = {"queued": 2, "skipped": 1, "errors": ["data[2].name is blank"],
              "run_url": "https://bk/run/1"}  # fmt: skip
    made = target(monkeypatch, tmp_path, _Http(answer), TESTREPORT_BUILDKITE_TAGS="team=core")
    s = session()
    made.open_session(s)
    made.send_batch(s, [result(metadata=[("bad key", "1")]), result(), result()], {})
    assert made.link() == "https://bk/run/1"
    line = made.summary(s)
    assert "2 executions in run" in line and "1 skipped by Buildkite (data[2].name is blank" in line
    assert "1 invalid tags not sent ('bad key'" in line
    dry = target(monkeypatch, tmp_path, _Http(None))  # a dry run answers {}
    dry.open_session(s)
    dry.send_batch(s, [result()], {})
    assert dry.link() is None and "1 executions" in dry.summary(s)


def test_state_keeps_what_the_run_used(monkeypatch, tmp_path) -> None:
    made = target(monkeypatch, tmp_path, _Http(), BUILDKITE_ANALYTICS_KEY="run-key",
                  TESTREPORT_BUILDKITE_TAGS="team=core")  # fmt: skip
    made.open_session(session())
    state = json.loads(json.dumps(made.state()))
    later = target(monkeypatch, tmp_path, _Http())  # replay elsewhere, without the variables
    later.resume(state, session())
    assert later.run_env["key"] == "run-key" and later.upload_tags == {"team": "core"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "BUILDKITE_ANALYTICS_TOKEN"),
        ({"BUILDKITE_ANALYTICS_TOKEN": "t", "TESTREPORT_BUILDKITE_TAGS": "a b=1"},
         "TESTREPORT_BUILDKITE_TAGS"),
        ({"BUILDKITE_ANALYTICS_TOKEN": "t", "BUILDKITE_ANALYTICS_API_URL": "ftp://x"},
         "BUILDKITE_ANALYTICS_API_URL"),
        ({"BUILDKITE_ANALYTICS_TOKEN": "t", "TESTREPORT_BUILDKITE_BATCH_SIZE": "6000"},
         "TESTREPORT_BUILDKITE_BATCH_SIZE"),
    ],
)  # fmt: skip
def test_misconfiguration_fails_at_start(tmp_path, env: dict[str, str], message: str) -> None:
    with pytest.raises(pytest.UsageError, match=message):
        bk.BuildkiteTarget.from_settings(settings_from_env(env, tmp_path))


# -- reading back (pure) --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("test_name", "location", "collection", "expected"),
    [
        ("t/a.py::C test_x[1]", "t/a.py:3", False, "t/a.py::C::test_x[1]"),
        ("t/a b.py::C test_x[p q]", "t/a b.py:3", False, "t/a b.py::C::test_x[p q]"),
        ("t/a.py test_x[c::d]", "t/a.py:3", False, "t/a.py::test_x[c::d]"),
        ("t/a.py test_x", "elsewhere/a.py:3", False, "t/a.py::test_x"),
        ("t/a.py t/a.py", "t/a.py", True, "t/a.py"),
        ("Deploy should work", "./spec/models/user.rb:23", False, None),
    ],
)
def test_nodeids_from_what_the_api_returns(test_name, location, collection, expected) -> None:
    assert Paths("/r", "/r", None).nodeid(test_name, location, collection)[0] == expected


def test_paths_undo_the_working_directory_and_prefix() -> None:
    paths = Paths("/r", "/r/pkg", "mono/")
    assert paths.split_location("mono/t/a.py:7") == ("pkg/t/a.py", 7)
    assert paths.nodeid("pkg/t/a.py test_x", "mono/t/a.py:7", False)[0] == "pkg/t/a.py::test_x"
    assert Paths("/r", "/r/sub", None).split_location("../t/a.py") == ("t/a.py", None)


@pytest.mark.parametrize(
    ("state", "result_", "status"),
    [("finished", "passed", "successful"), ("finished", "failed", "error"),
     ("running", "failed", "error"), ("running", "pending", "in_progress"),
     ("finished", "stale", "error")],
)  # fmt: skip
def test_run_status(state: str, result_: str, status: str) -> None:
    run = {"id": "r1", "state": state, "result": result_, "branch": "main",
           "created_at": "2026-01-02T03:04:05.000Z", "web_url": "https://w"}  # fmt: skip
    obj = run_session(run)
    assert obj["status"] == status and obj["run_url"] == "https://w" and obj["tests_count"] is None
    assert obj["started_at"] == "2026-01-02T03:04:05Z"


def test_nodeid_helper_matches_the_mapping() -> None:
    rec = mapped(result(nodeid="a.py::C::test_x[p::q]"))
    assert nodeid(rec) == "a.py::C::test_x[p::q]"
