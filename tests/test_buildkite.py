"""The Buildkite Test Engine target: mapping, streamed uploads, faults, and reading back."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import os
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from pytest_testreport.ci import CIInfo
from pytest_testreport.cli import main as cli_main
from pytest_testreport.config import settings_from_env
from pytest_testreport.engine.engine import MAX_BACKLOG
from pytest_testreport.engine.errors import RetryableError
from pytest_testreport.model import Failure, Outcome, ResultKind, Session, Step, TestResult
from pytest_testreport.targets.buildkite import mapping as bkmap
from pytest_testreport.targets.buildkite import target as bk
from pytest_testreport.targets.buildkite.reader import BuildkiteReader, Paths, run_session
from tests.buildkite_helpers import (
    FAST,
    SUITE,
    def_lines,
    final,
    nodeid,
    our_outcomes,
    records,
    use_fake,
)
from tests.fakes import AUTO, FakeBuildkite
from tests.junit import junit_outcomes

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
    return TestResult(**values)


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


# -- against the fake -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mode",
    [[], ["-n", "2"], ["--tx", "2*popen", "--dist", "load"]],
    ids=["plain", "n2", "tx2popen-load"],
)
def test_one_run_every_execution_once(pytester, monkeypatch, buildkite_fake, mode) -> None:
    use_fake(monkeypatch, buildkite_fake)
    pytester.makepyfile(**SUITE)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        *FAST, f"--junitxml={junit}", "--continue-on-collection-errors", *mode
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    run = buildkite_fake.run  # exactly one run
    assert all(u.gzip for u in buildkite_fake.uploads) and run.skipped == 0
    got = final(buildkite_fake)  # every execution once
    assert "unknown" not in {r["result"] for r in records(buildkite_fake)}
    assert our_outcomes(buildkite_fake) == junit_outcomes(junit)
    lines = def_lines(pytester.path / "test_alpha.py")
    assert got["test_alpha.py::test_fail"]["location"] == f"test_alpha.py:{lines['test_fail']}"
    assert got["test_alpha.py::TestGroup::test_one"]["location"].endswith(f":{lines['test_one']}")
    assert got["test_beta.py::test_ids[c::d]"]["name"] == "test_ids[c::d]"
    broken = got["test_broken_import.py"]
    assert broken["tags"]["test.pytest_collection_error"] == "true"
    assert broken["result"] == "failed" and "no_such_module" in broken["failure_reason"]
    error = got["test_alpha.py::test_error"]
    assert (error["result"], error["tags"]["test.phase"]) == ("failed", "setup")
    teardown = got["test_alpha.py::test_teardown_error"]
    assert teardown["tags"].get("test.phase") == "teardown"
    passed = got["test_alpha.py::test_pass"]
    assert passed["tags"]["team"] == "core"
    assert passed["history"]["children"][0]["detail"]["content"] == "Given login"
    assert {r["tags"]["test.attempt"] for r in got.values()} == {"1"}
    env = run.run_env
    assert env["collector"] == "pytest-testreport" and env["test_runner"] == "pytest"
    assert env["CI"] == "generic" and uuid.UUID(env["key"])
    starts = sorted(r["history"]["start_at"] for r in got.values())
    assert starts[0] >= 0 and starts[-1] < 60  # one clock, from the session's start
    result.stdout.fnmatch_lines(
        [f"testreport buildkite: *executions in run {env['key']}*https://*"]
    )


def test_reruns_every_attempt_with_its_result(pytester, monkeypatch, buildkite_fake) -> None:
    use_fake(monkeypatch, buildkite_fake)
    monkeypatch.setenv("COUNTER", str(pytester.path / "count"))
    pytester.makepyfile(
        test_rerun="""
        import os, pathlib
        def test_flaky():
            path = pathlib.Path(os.environ["COUNTER"])
            n = int(path.read_text()) if path.exists() else 0
            path.write_text(str(n + 1))
            assert n >= 2, f"attempt {n + 1}"
        def test_always(): assert 0
        def test_fine(): pass
        """
    )
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(*FAST, "--reruns", "2", f"--junitxml={junit}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    attempts: dict[str, list[tuple[str, str, str]]] = {}
    for record in sorted(records(buildkite_fake), key=lambda r: r["tags"]["test.attempt"]):
        tags = record["tags"]
        attempts.setdefault(record["name"], []).append(
            (tags["test.attempt"], record["result"], tags.get("pytest.rerun", "-"))
        )
    assert attempts == {
        "test_flaky": [("1", "failed", "true"), ("2", "failed", "true"), ("3", "passed", "-")],
        "test_always": [("1", "failed", "true"), ("2", "failed", "true"), ("3", "failed", "-")],
        "test_fine": [("1", "passed", "-")],
    }
    assert our_outcomes(buildkite_fake) == junit_outcomes(junit)
    assert len(buildkite_fake.runs) == 1


def test_crashed_worker(pytester, monkeypatch, buildkite_fake) -> None:
    use_fake(monkeypatch, buildkite_fake)
    pytester.makepyfile(
        test_crash="""
        import os
        def test_before(): pass
        def test_crash(): os._exit(1)
        def test_after(): pass
        """
    )
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(*FAST, "-n", "2", f"--junitxml={junit}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert our_outcomes(buildkite_fake) == junit_outcomes(junit)
    got = final(buildkite_fake)
    assert set(got) == {f"test_crash.py::test_{n}" for n in ("before", "crash", "after")}
    crash = got["test_crash.py::test_crash"]
    assert crash["result"] == "failed" and crash["tags"]["pytest.outcome"] == "crashed"
    assert "crashed while running" in crash["failure_reason"]
    assert len(buildkite_fake.runs) == 1


def test_uploads_arrive_while_the_suite_runs(pytester, monkeypatch, buildkite_fake) -> None:
    use_fake(monkeypatch, buildkite_fake)
    buildkite_fake.rest_limits(org=10_000, user=10_000)
    pytester.makepyfile(
        test_live="""
        import json, os, time, urllib.request

        def test_first(): pass

        def test_last():
            url = (os.environ["TESTREPORT_BUILDKITE_REST_URL"] + "/analytics/organizations/"
                   + os.environ["TESTREPORT_BUILDKITE_ORG"] + "/suites/"
                   + os.environ["TESTREPORT_BUILDKITE_SUITE"] + "/runs")
            auth = {"Authorization": "Bearer " + os.environ["BUILDKITE_API_TOKEN"]}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if json.load(urllib.request.urlopen(urllib.request.Request(url, headers=auth))):
                    return
                time.sleep(0.1)
            raise AssertionError("nothing was uploaded while the suite ran")
        """
    )
    pytester.runpytest_subprocess(*FAST).assert_outcomes(passed=2)
    assert len(buildkite_fake.uploads) == 2 and len(final(buildkite_fake)) == 2


def test_processes_of_one_ci_build_share_a_run(pytester, monkeypatch, buildkite_fake) -> None:
    use_fake(monkeypatch, buildkite_fake, GITHUB_ACTIONS="true", GITHUB_RUN_ID="4242",
             GITHUB_RUN_ATTEMPT="2", GITHUB_REF="refs/heads/feature/login", GITHUB_SHA="c0ffee",
             GITHUB_JOB="unit", GITHUB_REPOSITORY="acme/app")  # fmt: skip
    pytester.makepyfile(test_one="def test_a(): pass", test_two="def test_b(): pass")
    pytester.runpytest_subprocess(*FAST, "test_one.py").assert_outcomes(passed=1)
    pytester.runpytest_subprocess(*FAST, "test_two.py").assert_outcomes(passed=1)
    run = buildkite_fake.run
    assert set(final(buildkite_fake)) == {"test_one.py::test_a", "test_two.py::test_b"}
    assert {k: run.run_env.get(k) for k in ("CI", "key", "branch", "commit_sha", "job_id")} == {
        "CI": "github_actions", "key": "4242-2", "branch": "feature/login",
        "commit_sha": "c0ffee", "job_id": "unit",
    }  # fmt: skip
    assert run.run_env["url"] == "https://github.com/acme/app/actions/runs/4242"


def test_overrides_prefix_and_tags(pytester, monkeypatch, buildkite_fake) -> None:
    use_fake(monkeypatch, buildkite_fake, BUILDKITE_ANALYTICS_KEY="my-run",
             BUILDKITE_ANALYTICS_BRANCH="main", BUILDKITE_ANALYTICS_SHA="abc123",
             BUILDKITE_ANALYTICS_NUMBER="17", BUILDKITE_ANALYTICS_MESSAGE="Release",
             BUILDKITE_ANALYTICS_LOCATION_PREFIX="services/api/",
             TESTREPORT_BUILDKITE_TAGS="team=core,python.major=3")  # fmt: skip
    pytester.makeini("[pytest]\nmarkers = execution_tag\n")
    pytester.mkpydir("pkg")
    (pytester.path / "pkg" / "test_tagged.py").write_text(
        "import pytest\nfrom pytest_testreport import metadata\n\n"
        '@pytest.mark.testreport_metadata(**{"execution_tag:area": "login"})\n'
        'def test_tagged():\n    metadata("bad key", "x")\n'
    )
    monkeypatch.chdir(pytester.path / "pkg")  # file names are relative to the working dir
    result = pytester.runpytest_subprocess(*FAST, "--rootdir", str(pytester.path))
    result.assert_outcomes(passed=1)
    (record,) = records(buildkite_fake)
    assert record["location"] == "services/api/test_tagged.py:4"  # pytest: the decorator's line
    assert record["file_name"] == "services/api/test_tagged.py"
    assert record["scope"] == "pkg/test_tagged.py" and record["tags"]["area"] == "login"
    run = buildkite_fake.run
    assert (run.key, run.run_env["branch"], run.run_env["number"]) == ("my-run", "main", "17")
    assert run.run_env["location_prefix"] == "services/api/"
    assert buildkite_fake.uploads[0].tags == {"team": "core", "python.major": "3"}
    result.stdout.fnmatch_lines(["*1 invalid tags not sent ('bad key': keys start with*"])


def test_execution_tag_marker(pytester, monkeypatch, buildkite_fake) -> None:
    runner = importlib.import_module("pytest_testreport.runner")
    if "execution_tag" not in inspect.getsource(runner):
        pytest.skip("runner.py does not turn @pytest.mark.execution_tag into metadata yet")
    use_fake(monkeypatch, buildkite_fake)
    pytester.makepyfile(
        test_marked="""
        import pytest
        pytestmark = pytest.mark.execution_tag("area", "module")
        @pytest.mark.execution_tag("area", "login")
        @pytest.mark.execution_tag("team", "core")
        def test_a(): pass
        def test_b(): pass
        """
    )
    pytester.runpytest_subprocess(*FAST, "--strict-markers").assert_outcomes(passed=2)
    got = final(buildkite_fake)
    assert {k: got["test_marked.py::test_a"]["tags"].get(k) for k in ("area", "team")} == {
        "area": "login",
        "team": "core",
    }
    assert got["test_marked.py::test_b"]["tags"]["area"] == "module"


FAULT_SUITE = """
import pytest
@pytest.mark.parametrize("i", range(39))
def test_ok(i): pass
def test_bad(): assert 0
"""


@pytest.mark.parametrize("fault", ["5xx", "429", "reset", "slow"])
def test_faults_lose_nothing(pytester, monkeypatch, buildkite_fake, fault: str) -> None:
    use_fake(monkeypatch, buildkite_fake)
    pytester.makepyfile(test_faults=FAULT_SUITE)
    args = [*FAST, "--testreport-buildkite-batch-size=5"]
    if fault == "5xx":
        buildkite_fake.fail_ratio(0.3, 503)
    elif fault == "429":
        buildkite_fake.rate_limit(3, 1.0, retry_after=AUTO)
    elif fault == "reset":
        buildkite_fake.reset_next(3)
    else:
        buildkite_fake.slow_next(1, 1.5)
        args.append("--testreport-read-timeout=0.5")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=39, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not (pytester.path / ".testreport" / "spool").exists() or not list(
        (pytester.path / ".testreport" / "spool").glob("buildkite-*")
    )
    ids = [r["id"] for r in records(buildkite_fake)]
    assert len(set(ids)) == 40 and len(buildkite_fake.runs) == 1
    if fault == "slow":
        # The slow upload was processed, its answer came too late, and it was sent again with
        # the same record ids: identical repeats the service can recognise, nothing else.
        by_id: dict[str, list[dict[str, Any]]] = {}
        for record in records(buildkite_fake):
            by_id.setdefault(record["id"], []).append(record)
        assert all(all(r == rs[0] for r in rs) for rs in by_id.values())
        assert len(ids) - 40 <= 5
    else:
        assert len(ids) == 40
    assert any(r.fault for r in buildkite_fake.requests)


@pytest.mark.parametrize("fault", ["outage", "401"])
def test_undelivered_results_are_replayed_once(
    pytester, monkeypatch, buildkite_fake, fault
) -> None:
    use_fake(monkeypatch, buildkite_fake)
    pytester.makepyfile(test_faults=FAULT_SUITE)
    if fault == "outage":
        buildkite_fake.outage()
    else:
        buildkite_fake.unauthorized()
    result = pytester.runpytest_subprocess(*FAST, "--testreport-flush-timeout=3",
                                           "--testreport-buildkite-batch-size=5")  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*pytest-testreport replay --target buildkite*"])
    if fault == "401":
        result.stdout.fnmatch_lines(["*401*BUILDKITE_ANALYTICS_TOKEN*"])
    assert buildkite_fake.token not in result.stdout.str() + result.stderr.str()
    assert not records(buildkite_fake)
    buildkite_fake.clear_faults()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["replay"]) == 0, out.getvalue()
    assert len(final(buildkite_fake)) == 40 and len(records(buildkite_fake)) == 40
    assert buildkite_fake.run.run_env["collector"] == "pytest-testreport"
    with contextlib.redirect_stdout(out):
        assert cli_main(["replay"]) == 0  # nothing left: sends nothing more
    assert len(records(buildkite_fake)) == 40


# -- reading back against the fake ----------------------------------------------------------------
def upload(fake: FakeBuildkite, key: str, data: list[dict[str, Any]], branch: str) -> None:
    body = {"format": "json", "run_env": {"key": key, "branch": branch, "commit_sha": "abc"},
            "data": data}  # fmt: skip
    answer = requests.post(f"{fake.url}/uploads", json=body, timeout=10,
                           headers={"Authorization": f'Token token="{fake.token}"'})  # fmt: skip
    assert answer.status_code == 202, answer.text


def record(name: str, result_: str = "failed", **tags: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "scope": "tests/test_a.py::TestA", "name": name,
            "location": "tests/test_a.py:7", "file_name": "tests/test_a.py", "result": result_,
            "failure_reason": "boom", "history": {"start_at": 0.0, "duration": 0.5},
            "tags": {"test.attempt": "1", **tags}}  # fmt: skip


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli_main([*args, "--target", "buildkite"])
    return code, out.getvalue()


def test_cli_reads_runs_with_pagination(monkeypatch, tmp_path, buildkite_fake) -> None:
    use_fake(monkeypatch, buildkite_fake)
    monkeypatch.chdir(tmp_path)
    for i in range(130):
        upload(buildkite_fake, f"k{i}", [record("test_ok", "passed")], "main" if i % 2 else "dev")
    big = [record(f"test_f[{i}]") for i in range(230)]
    big += [record("test_retried", **{"pytest.rerun": "true"}), record("test_ok", "passed")]
    upload(buildkite_fake, "big", big, "main")
    code, out = cli("list", "--json", "--per-page", "20", "--page", "7")
    runs = json.loads(out)
    assert code == 0 and len(runs) == 11 and runs[-1]["branch"] == "dev"
    code, out = cli("list", "--json", "--branch", "dev", "--per-page", "50", "--page", "2")
    assert [r["branch"] for r in json.loads(out)] == ["dev"] * 15
    code, out = cli("show", "latest", "--json")
    shown = json.loads(out)
    assert shown["status"] == "error" and len(shown["tests"]) == 231
    code, out = cli("failed", shown["id"], "--json")
    failed = json.loads(out)
    assert code == 0 and len(failed) == 230
    assert failed[0]["nodeid"] == "tests/test_a.py::TestA::test_f[0]"
    assert (failed[0]["line"], failed[0]["outcome"], failed[0]["final"]) == (7, "failed", True)
    for verb in (["list"], ["show", "latest"], ["failed", "latest"]):
        code, out = cli(*verb)
        assert code == 0 and out
    code, out = cli("show", "no-such-run")
    assert code == 1 and "no session 'no-such-run'" in out
    pages = buildkite_fake.matching("GET", "/failed_executions$")
    assert len(pages) >= 3 and all(r.param("per_page") == "100" for r in pages[:1])


def test_cli_waits_for_the_rate_limit(monkeypatch, tmp_path, buildkite_fake) -> None:
    use_fake(monkeypatch, buildkite_fake)
    monkeypatch.chdir(tmp_path)
    buildkite_fake.rest_limits(org=200, user=2, window=1.0)
    upload(buildkite_fake, "r1", [record(f"test_f[{i}]") for i in range(250)], "main")
    code, out = cli("failed", "latest", "--json")
    assert code == 0 and len(json.loads(out)) == 250
    assert not [r for r in buildkite_fake.requests if r.status == 429]


def test_cli_flaky_and_usage(monkeypatch, tmp_path, buildkite_fake) -> None:
    use_fake(monkeypatch, buildkite_fake)
    monkeypatch.chdir(tmp_path)
    upload(buildkite_fake, "r1", [record("test_a"), record("test_b", "passed")], "main")
    buildkite_fake.set_labels("tests/test_a.py::TestA", "test_a", "flaky")
    code, out = cli("flaky", "--json")
    assert code == 0 and [r["nodeid"] for r in json.loads(out)] == [
        "tests/test_a.py::TestA::test_a"
    ]
    assert cli("flaky")[0] == 0
    code, out = cli("slow")
    assert code == 2 and "not available" in out
    monkeypatch.delenv("TESTREPORT_BUILDKITE_ORG")
    code, out = cli("list")
    assert code == 2 and "TESTREPORT_BUILDKITE_ORG" in out
    monkeypatch.setenv("TESTREPORT_BUILDKITE_ORG", buildkite_fake.org)
    monkeypatch.setenv("BUILDKITE_API_TOKEN", "wrong-token")
    code, out = cli("list")
    assert code == 1 and "401" in out and "wrong-token" not in out


FAILING = """
import os, pytest
FAIL = set(os.environ.get("FAIL_THESE", "").split(","))
@pytest.mark.parametrize("p", ["a b", "c"])
def test_param(p): assert p not in FAIL
class TestGroup:
    def test_one(self): assert "one" not in FAIL
def test_two(): assert "two" not in FAIL
"""


def test_failed_from_buildkite(pytester, monkeypatch, buildkite_fake) -> None:
    use_fake(monkeypatch, buildkite_fake, FAIL_THESE="a b,one")
    pytester.makepyfile(test_sel=FAILING)
    pytester.runpytest_subprocess(*FAST).assert_outcomes(passed=2, failed=2)
    settings = settings_from_env(os.environ, pytester.path)
    found = BuildkiteReader.failed_from(settings, None)
    nodeids = found.nodeids
    assert sorted(nodeids) == ["test_sel.py::TestGroup::test_one", "test_sel.py::test_param[a b]"]
    assert found.unmapped == 0 and "running the 2 tests" in found.message
    run_id = buildkite_fake.run.id
    assert BuildkiteReader.failed_from(settings, run_id).nodeids == nodeids
    with pytest.raises(pytest.UsageError, match="no session 'nope'"):
        BuildkiteReader.failed_from(settings, "nope")
    monkeypatch.setenv("TESTREPORT_BRANCH", "elsewhere")
    found = BuildkiteReader.failed_from(settings_from_env(os.environ, pytester.path), None)
    assert found.nodeids == [] and "no finished Buildkite run on branch elsewhere" in found.message
    monkeypatch.delenv("TESTREPORT_BRANCH")
    result = pytester.runpytest_subprocess("--testreport-failed-from=buildkite", "-v",
                                           "-p", "no:cacheprovider")  # fmt: skip
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*running the 2 tests that failed*Buildkite run*"])


BIG_CONFTEST = """
import time

SEEN = {"tests": 0, "backlog": 0}

def pytest_configure(config):
    SEEN["config"] = config

def pytest_runtest_logfinish():
    SEEN["tests"] += 1
    if SEEN["tests"] % 250 == 0:  # what waits in memory for the sender
        engine = SEEN["config"].pluginmanager.get_plugin("testreport-controller").engine
        if hasattr(engine, "_senders"):  # delivery in threads: what each sender holds
            backlog = max(len(getattr(s, "pending", ())) for s in engine._senders)
        else:  # a delivery process: what the pytest process holds until the feeder sends it
            backlog = len(engine._queue)
        SEEN["backlog"] = max(SEEN["backlog"], backlog)

def pytest_sessionfinish():
    open("memory.txt", "w").write(f"{SEEN['backlog']} {time.monotonic()}")
"""


@pytest.mark.slow
def test_a_huge_session_uploads_everything(pytester, monkeypatch, buildkite_fake) -> None:
    """20,000 tests (100,000 with TESTREPORT_BIG=1): all uploaded while they run, exit 0."""
    count = 100_000 if os.environ.get("TESTREPORT_BIG") == "1" else 20_000
    use_fake(monkeypatch, buildkite_fake)
    pytester.makepyfile(
        test_big=f"""
        import pytest
        @pytest.mark.parametrize("i", range({count}))
        def test_many(i): pass
        """,
        conftest=BIG_CONFTEST,
    )
    result = pytester.runpytest_subprocess(*FAST, "-q", "--testreport-flush-timeout=60")
    assert result.ret == pytest.ExitCode.OK
    stored = records(buildkite_fake)
    assert len(stored) == count and len({r["id"] for r in stored}) == count
    assert max(u.size for u in buildkite_fake.uploads) <= bk.MAX_UPLOAD
    first = min(u.received for u in buildkite_fake.uploads)
    backlog, last_test = (pytester.path / "memory.txt").read_text().split()
    assert first < float(last_test)  # streamed while the suite ran, not saved for the end
    # Memory stays bounded by design: the engine never holds more than its backlog limit
    # (peak RSS is measured by bench/overhead.py, not asserted here).
    assert int(backlog) <= MAX_BACKLOG + bk.BuildkiteTarget.batch_size


def test_nodeid_helper_matches_the_mapping() -> None:
    rec = mapped(result(nodeid="a.py::C::test_x[p::q]"))
    assert nodeid(rec) == "a.py::C::test_x[p::q]"
