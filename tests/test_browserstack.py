"""The BrowserStack target against the fake ``/ext/v1`` service, and its pure mapping functions."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_testreport.ci import CIInfo
from pytest_testreport.model import Failure, Outcome, ResultKind, Session, Step, TestResult
from pytest_testreport.targets.browserstack import config as bsconfig
from pytest_testreport.targets.browserstack import hooks as bshooks
from pytest_testreport.targets.browserstack import mapping as bsmap
from pytest_testreport.targets.browserstack import target as bs
from tests.fakes import browserstack_rules as rules

from .browserstack_helpers import (
    INI,
    SUITE,
    browserstack_results,
    check_build,
    cli,
    junit_results,
    meta,
    replay,
    run,
    use_fake,
)
from .junit import junit_counts

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


# -- runs against the fake --------------------------------------------------------------------
@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_one_build_matching_junitxml(pytester, monkeypatch, browserstack_fake, mode) -> None:
    fake = browserstack_fake
    use_fake(monkeypatch, fake, BROWSERSTACK_PROJECT_NAME="shop", BROWSERSTACK_BUILD_NAME="nightly")
    pytester.makepyfile(**SUITE)
    pytester.makeini(INI)
    junit = pytester.path / "junit.xml"
    res = run(pytester, f"--junitxml={junit}", "--continue-on-collection-errors",
              "--testreport-browserstack-build-tags=ci,smoke", *mode)  # fmt: skip
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    runs = check_build(fake)
    assert browserstack_results(runs, junit_results(junit)) == junit_results(junit)
    counts = junit_counts(junit)  # junit lists a failed test with a teardown error twice
    assert len(runs) == len(junit_results(junit)) == counts["tests"] - 1
    build = fake.build
    assert (build.start["name"], build.start["project_name"], build.tags) == (
        "nightly", "shop", ["ci", "smoke"])  # fmt: skip
    res.stdout.fnmatch_lines([f"testreport browserstack: build {build.id} — *"])
    passed = runs[("test_alpha.py::test_pass", 1)].finish
    steps = passed["meta"]["steps"]
    assert [(s.get("keyword", None), s["text"]) for s in steps] == [
        ("Given", "open the page"), (None, "click")]  # fmt: skip
    assert passed["custom_metadata"]["ticket"] == "PROJ-1"
    nested = runs[("test_alpha.py::TestGroup::TestInner::test_nested", 1)]
    assert nested.start["scopes"] == ["test_alpha.py", "TestGroup", "TestInner"]
    broken = runs[("test_broken_import.py", 1)]
    assert (broken.result, broken.start["scopes"]) == ("failed", ["test_broken_import.py"])
    assert runs[("test_beta.py::test_timeout", 1)].result == "timeout"
    assert len(runs[("test_limits.py::test_many_markers", 1)].start["tags"]) == 40
    failed = runs[("test_alpha.py::test_fail", 1)]
    assert {e["message"].splitlines()[0] for e in failed.logs} >= {"[stdout]"}
    assert any("it broke" in e["message"] for e in failed.logs)
    both = runs[("test_alpha.py::test_fail_and_teardown", 1)]
    assert len(both.finish["failure"]) == 2
    hooks = {h.start["test_run_id"]: h for h in build.hooks.values()}  # failed phases only
    assert hooks[runs[("test_alpha.py::test_error", 1)].uuid].finish["result"] == "failed"
    assert hooks[both.uuid].start["hook_type"] == "afterEach"
    assert len(build.hooks) == 3
    if mode:
        assert {meta(r, "pytest.worker") for r in runs.values()} - {None} <= {"gw0", "gw1"}


def test_reruns_are_runs_of_their_own(pytester, monkeypatch, browserstack_fake) -> None:
    use_fake(monkeypatch, browserstack_fake)
    pytester.makepyfile(test_flaky="""
        from pathlib import Path
        def test_flaky(tmp_path_factory):
            marker = Path(__file__).with_name("ran")
            if not marker.exists():
                marker.write_text("1")
                assert 0, "first time"
        def test_always(): assert 0
        """)  # fmt: skip
    outcomes = run(pytester, "--reruns=2").parseoutcomes()
    assert (outcomes["passed"], outcomes["failed"], outcomes["rerun"]) == (1, 1, 3)
    runs = check_build(browserstack_fake)
    assert sorted(runs) == [("test_flaky.py::test_always", 1), ("test_flaky.py::test_always", 2),
                            ("test_flaky.py::test_always", 3), ("test_flaky.py::test_flaky", 1),
                            ("test_flaky.py::test_flaky", 2)]  # fmt: skip
    first, second = runs[("test_flaky.py::test_flaky", 1)], runs[("test_flaky.py::test_flaky", 2)]
    assert (first.result, second.result) == ("failed", "passed")
    assert "rerun" not in first.start.get("tags", []) and "rerun" in second.start["tags"]
    assert second.finish["custom_metadata"]["attempt"] == "2" and "rerun" in second.finish["tags"]


@pytest.mark.parametrize("mode", ["none", "slow-or-failed", "all"])
def test_hook_modes(pytester, monkeypatch, browserstack_fake, mode) -> None:
    use_fake(monkeypatch, browserstack_fake)
    pytester.makepyfile(test_hooks="""
        import time, pytest
        @pytest.fixture
        def slow():
            time.sleep(0.3)
            yield
        @pytest.fixture
        def broken():
            raise RuntimeError("no db")
        def test_slow(slow): pass
        def test_broken(broken): pass
        def test_quick(): pass
        """)  # fmt: skip
    run(pytester, f"--testreport-browserstack-hooks={mode}",
        "--testreport-browserstack-hook-threshold=0.2")  # fmt: skip
    runs = check_build(browserstack_fake)
    hooks = browserstack_fake.build.hooks.values()
    by_test = {(runs_key[0].split("::")[-1]): r for runs_key, r in runs.items()}
    sent = sorted((next(n for n, r in by_test.items() if r.uuid == h.start["test_run_id"]),
                   h.start["hook_type"], h.finish["result"]) for h in hooks)  # fmt: skip
    expected = {
        "none": [],
        "slow-or-failed": [("test_broken", "beforeEach", "failed"),
                           ("test_slow", "beforeEach", "passed")],
        "all": [(t, kind, "failed" if (t, kind) == ("test_broken", "beforeEach") else "passed")
                for t in ("test_broken", "test_quick", "test_slow")
                for kind in ("afterEach", "beforeEach")],
    }[mode]  # fmt: skip
    assert sent == expected
    for r in runs.values():  # each test's finish lists exactly its own hooks
        mine = {h.uuid for h in hooks if h.start["test_run_id"] == r.uuid}
        assert set(r.finish.get("hooks", [])) == mine


def test_crashed_worker(pytester, monkeypatch, browserstack_fake) -> None:
    use_fake(monkeypatch, browserstack_fake)
    pytester.makepyfile(test_crash="""
        import os
        def test_before(): pass
        def test_crash(): os._exit(1)
        """)  # fmt: skip
    assert run(pytester, "-n", "2").ret == pytest.ExitCode.TESTS_FAILED
    runs = check_build(browserstack_fake)
    crash = runs[("test_crash.py::test_crash", 1)]
    assert (crash.result, meta(crash, "pytest.outcome")) == ("failed", "crashed")


def test_results_arrive_during_the_run(pytester, monkeypatch, browserstack_fake) -> None:
    fake = browserstack_fake
    use_fake(monkeypatch, fake)
    signal = pytester.path / "seen"

    def watch() -> None:
        if fake.wait_for(lambda: fake.kinds().count("test_finish") >= 3, timeout=15):
            signal.write_text("yes")

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    pytester.makepyfile(test_live=f"""
        import time
        from pathlib import Path
        def test_a(): pass
        def test_b(): pass
        def test_c(): pass
        def test_z_last():
            deadline = time.monotonic() + 10
            while not Path({str(signal)!r}).exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert Path({str(signal)!r}).exists(), "earlier results did not arrive during the run"
        """)  # fmt: skip
    run(pytester).assert_outcomes(passed=4)
    check_build(fake)


@pytest.mark.parametrize("budget", ["matched", "too-high"])
def test_rate_limit_is_respected(pytester, monkeypatch, browserstack_fake, budget) -> None:
    fake = browserstack_fake
    fake.rate_limit(25, 1.0)  # 429 past 25 requests per second, without Retry-After
    use_fake(monkeypatch, fake)
    pytester.makepyfile(test_many="def test_n(n): pass\n", conftest="""
        import pytest
        @pytest.fixture(params=range(30))
        def n(request): return request.param
        """)  # fmt: skip
    args = ["--testreport-browserstack-rate-limit=20/1"] if budget == "matched" else []
    run(pytester, *args).assert_outcomes(passed=30)
    if budget == "matched":  # our token bucket keeps under the service's limit: no 429 at all
        assert not any(r.status == 429 for r in fake.requests)
    else:  # the default budget (1,600 / 5 min) bursts past it: 429s are retried, or spooled
        assert any(r.status == 429 for r in fake.requests)
        if list((pytester.path / ".testreport" / "spool").glob("*.jsonl")):
            assert replay(pytester)[0] == 0
    assert len(check_build(fake)) == 30


@pytest.mark.parametrize(
    "fault",
    ["503-share", "500-share", "429-retry-after", "resets", "slow"],
)
def test_faults_deliver_everything_once(pytester, monkeypatch, browserstack_fake, fault) -> None:
    fake = browserstack_fake
    use_fake(monkeypatch, fake)
    args = ["--testreport-read-timeout=0.5"]
    if fault == "503-share":
        fake.fail_ratio(0.3, 503)
    elif fault == "500-share":
        fake.fail_ratio(0.15, 500, seed=3)
    elif fault == "429-retry-after":
        fake.fail_next(2, 429, headers={"Retry-After": "1"})
    elif fault == "resets":
        fake.reset_next(4)
    else:  # once the build exists: test run starts processed, answered after the read timeout

        def slow_down() -> None:
            if fake.wait_for(lambda: fake.builds, timeout=10):
                fake.slow_next(3, 1.5)

        threading.Thread(target=slow_down, daemon=True).start()
    pytester.makepyfile(test_f="""
        import pytest
        @pytest.mark.parametrize("i", range(8))
        def test_p(i): assert i != 3
        """)  # fmt: skip
    res = run(pytester, *args)
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    res.assert_outcomes(passed=7, failed=1)
    fake.clear_faults()
    spooled = list((pytester.path / ".testreport" / "spool").glob("browserstack-*.jsonl"))
    if spooled:
        code, out = replay(pytester)
        assert code == 0, out
    runs = check_build(fake)
    assert len(runs) == 8
    assert sum(r.result == "failed" for r in runs.values()) == 1
    if fault == "slow":  # a start whose answer was lost was looked up, not sent again
        assert spooled and fake.matching("GET", "/testRuns$")


def test_outage_then_replay(pytester, monkeypatch, browserstack_fake) -> None:
    fake = browserstack_fake
    use_fake(monkeypatch, fake)
    pytester.makepyfile(test_o="def test_a(): pass\ndef test_b(): assert 0\n")
    fake.outage()
    res = run(pytester, "--testreport-flush-timeout=3")
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    res.stdout.fnmatch_lines(["*2 of 2 results spooled (and the session close)*",
                              "*pytest-testreport replay --target browserstack*"])  # fmt: skip
    assert not fake.builds
    fake.recover()
    code, out = replay(pytester)
    assert code == 0, out
    runs = check_build(fake)
    assert sorted(r.result for r in runs.values()) == ["failed", "passed"]
    assert replay(pytester) == (0, f"nothing to replay in {pytester.path}/.testreport/spool\n")


def test_lost_build_start_answer_is_not_a_second_build(pytester, monkeypatch,
                                                       browserstack_fake) -> None:  # fmt: skip
    fake = browserstack_fake
    use_fake(monkeypatch, fake)
    pytester.makepyfile(test_o="def test_a(): pass\n")
    fake.slow_next(1, 2.0)  # the build is made, its answer comes too late
    run(pytester, "--testreport-read-timeout=0.5").assert_outcomes(passed=1)
    assert len(fake.builds) == 1 and not fake.build.tests
    code, out = replay(pytester)
    assert code == 0, out
    assert len(check_build(fake)) == 1


def test_unauthorized(pytester, monkeypatch, browserstack_fake) -> None:
    fake = browserstack_fake
    use_fake(monkeypatch, fake)
    pytester.makepyfile(test_o="def test_a(): pass\n")
    fake.unauthorized()
    res = run(pytester)
    assert res.ret == pytest.ExitCode.OK
    res.stdout.fnmatch_lines(["*401*check BROWSERSTACK_USERNAME and BROWSERSTACK_ACCESS_KEY*"])
    assert fake.access_key not in res.stdout.str() + res.stderr.str()
    fake.authorize()
    assert replay(pytester)[0] == 0
    check_build(fake)


def test_missing_credentials_are_a_usage_error(pytester, monkeypatch, browserstack_fake) -> None:
    monkeypatch.setenv("BROWSERSTACK_USERNAME", "someone")
    pytester.makepyfile(test_o="def test_a(): pass\n")
    res = run(pytester)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs BROWSERSTACK_ACCESS_KEY" in res.stderr.str()
    monkeypatch.setenv("BROWSERSTACK_ACCESS_KEY", browserstack_fake.access_key)
    monkeypatch.setenv("BROWSERSTACK_USERNAME", browserstack_fake.username)
    monkeypatch.setenv("TESTREPORT_BROWSERSTACK_API_URL", browserstack_fake.url)
    # Both credentials turn the target on by themselves, as the vendors' collectors do ...
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert browserstack_fake.build.finished_at is not None
    # ... unless auto-activation is off, or targets are named.
    requests_before = len(browserstack_fake.requests)
    pytester.makeini("[pytest]\ntestreport_auto = false\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    pytester.runpytest_subprocess("--testreport=local").assert_outcomes(passed=1)
    assert len(browserstack_fake.requests) == requests_before


def test_dry_run_sends_nothing(pytester, monkeypatch, browserstack_fake) -> None:
    use_fake(monkeypatch, browserstack_fake)
    pytester.makepyfile(test_o="def test_a(): pass\ndef test_b(): assert 0\n")
    run(pytester, "--testreport-dry-run").assert_outcomes(passed=1, failed=1)
    assert not browserstack_fake.requests
    log = (pytester.path / ".testreport" / "debug.log").read_text()
    assert "DRY-RUN PUT" in log and "tests/dry-run-" in log


def test_sharded_build(pytester, monkeypatch, browserstack_fake) -> None:
    fake = browserstack_fake
    use_fake(monkeypatch, fake, BROWSERSTACK_BUILD_NAME="sharded")
    pytester.makepyfile(test_s="def test_one(): pass\ndef test_two(): pass\n")
    code, out, err = cli("browserstack", "start", "--export")
    assert code == 0, err
    name, _, build = out.strip().partition("=")
    assert (name, build) == ("TESTREPORT_BROWSERSTACK_BUILD_ID", fake.build.id)
    monkeypatch.setenv(name, build)
    for shard in ("one", "two"):
        res = run(pytester, "-k", shard)
        res.assert_outcomes(passed=1)
        res.stdout.fnmatch_lines([f"*build {build}*joined*"])
    assert fake.build.finished is None
    assert cli("browserstack", "finish", build)[:2] == (0, f"build {build} finished\n")
    assert len(check_build(fake)) == 2 and fake.build.start["name"] == "sharded"


def test_reader(pytester, monkeypatch, browserstack_fake) -> None:
    fake = browserstack_fake
    use_fake(monkeypatch, fake, BROWSERSTACK_PROJECT_NAME="shop")
    fake.page_size = 2
    pytester.makepyfile(test_r="""
        import pytest
        def double(i): return 2 * i
        @pytest.mark.parametrize("i", range(5))
        def test_p(i): assert double(i) != 2
        def test_skip(): pytest.skip("no")
        """)  # fmt: skip
    run(pytester, "--reruns=1")
    run(pytester)
    newest = list(fake.builds)[-1]
    code, out, err = cli("list", "--target", "browserstack", "--json", "--per-page", "1")
    assert code == 0, err
    (listed,) = json.loads(out)
    assert (listed["id"], listed["status"], listed["tests_count"]) == (newest, "error", 6)
    show = json.loads(cli("show", "latest", "--target", "browserstack", "--json")[1])
    assert show["id"] == newest and show["failed_count"] == 1
    assert len(show["tests"]) == 6  # paged through 3 pages
    failed = json.loads(cli("failed", next(iter(fake.builds)), "--target", "browserstack",
                            "--json")[1])  # fmt: skip
    assert [(t["nodeid"], t["attempt"], t["final"], t["outcome"]) for t in failed] == [
        ("test_r.py::test_p[1]", 2, True, "failed")]  # fmt: skip
    # The first line of pytest's last "E" block, not its "+  where" explanation.
    assert failed[0]["failure"]["message"] == "assert 2 != 2"
    code, _, err = cli("show", "nosuchbuild", "--target", "browserstack")
    assert code == 1 and "no session 'nosuchbuild'" in err
    fake.fail_next(1, 200, body={"weird": True}, path="projects")
    code, _, err = cli("list", "--target", "browserstack")
    assert code == 1 and "without a list under projects" in err


def test_cli_needs_credentials(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("browserstack", "finish", "abc")
    assert code == 2 and "BROWSERSTACK_USERNAME" in err


def test_rate_limit_option() -> None:
    from pytest_testreport.config import settings_from_env

    env = {"BROWSERSTACK_USERNAME": "u", "BROWSERSTACK_ACCESS_KEY": "k"}
    target = bs.BrowserStackTarget.from_settings(settings_from_env(env, Path.cwd()))
    bucket = target.http.bucket
    # burst + refill over one window is exactly the budget
    assert bucket is not None and round(bucket.capacity + bucket.rate * 300) == 1600
    env["TESTREPORT_BROWSERSTACK_RATE_LIMIT"] = "100/60"
    target = bs.BrowserStackTarget.from_settings(settings_from_env(env, Path.cwd()))
    bucket = target.http.bucket
    assert bucket is not None and round(bucket.capacity + bucket.rate * 60) == 100


def test_progress_resumes_without_repeating(browserstack_fake, tmp_path: Path) -> None:
    """A result that failed half-way is sent again from where it stopped; nothing twice."""
    from pytest_testreport.config import settings_from_env
    from pytest_testreport.engine.errors import AmbiguousError, RejectedError

    fake = browserstack_fake
    env = {**fake.env(), "TESTREPORT_READ_TIMEOUT": "0.3", "TESTREPORT_BROWSERSTACK_HOOKS": "all"}
    settings = settings_from_env(env, tmp_path)
    target = bs.BrowserStackTarget.from_settings(settings)
    session = Session(pytest_version="9")
    target.open_session(session)
    r = result(outcome=Outcome.FAILED, failure=Failure(message="x", phase="call"), log="INFO a")
    progress: dict = {}
    fake.fail_next(1, 400, path="/hooks/.*/finish$")
    with pytest.raises(RejectedError):
        target.send_batch(session, [r], progress)
    step = progress[r.uuid]
    assert step["run"] and step["hooks"]["setup"]["uuid"] and not step.get("done")
    target.send_batch(session, [r], progress)
    assert step["done"] and step["logs"] == 1
    assert fake.kinds().count("test_start") == 1 and fake.kinds().count("hook_start") == 2
    assert fake.kinds().count("logs") == 1
    # A start processed whose answer came too late: replay finds the run instead of a new one.
    late = result(nodeid="tests/test_a.py::test_late", name="test_late")
    progress = {}
    fake.slow_next(1, 1.0)
    with pytest.raises(AmbiguousError):
        target.send_batch(session, [late], progress)
    assert progress[late.uuid] == {"start": "unknown"}
    assert fake.wait_for(lambda: fake.kinds().count("test_start") == 2)
    replayer = bs.BrowserStackTarget.from_settings(settings)
    replayer.resume(json.loads(json.dumps(target.state())), session)
    replayer.send_batch(session, [late], json.loads(json.dumps(progress)))
    replayer.close_session(session)
    assert fake.kinds().count("test_start") == 2
    assert len(check_build(fake)) == 2


@pytest.mark.parametrize("verb", [["flaky"], ["slow"], ["list", "--branch", "main"]])
def test_verbs_the_api_cannot_answer_are_bad_usage(
    monkeypatch, tmp_path: Path, browserstack_fake, verb: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    use_fake(monkeypatch, browserstack_fake)
    code, _, err = cli(*verb, "--target", "browserstack")
    assert code == 2
    assert err.startswith("pytest-testreport: ") and "testreport: testreport" not in err
    assert "not supported" in err or "not available" in err


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


SCOPES_SUITE = {
    "test_mod": """
        import time, pytest

        @pytest.fixture(scope="module")
        def slow_module():
            time.sleep(0.3)
            yield
            time.sleep(0.3)

        def test_first(slow_module): pass
        def test_second(slow_module): pass
        def test_third(slow_module): pass
        """,
    "test_fn": """
        import time, pytest

        @pytest.fixture
        def slow_function():
            time.sleep(0.3)
            yield
            time.sleep(0.3)

        def test_each(slow_function): pass

        class TestGroup:
            @pytest.fixture(scope="class")
            def slow_class(self):
                time.sleep(0.3)
                yield
                time.sleep(0.3)

            def test_c1(self, slow_class): pass
            def test_c2(self, slow_class): pass
        """,
    "test_broken": """
        import pytest

        @pytest.fixture(scope="module")
        def broken_module():
            raise RuntimeError("no database")

        def test_only(broken_module): pass
        """,
}


@pytest.mark.parametrize("mode", [[], ["-n", "2", "--dist", "loadfile"]], ids=["plain", "n2"])
def test_fixture_scopes_become_hook_types(pytester, monkeypatch, browserstack_fake, mode) -> None:
    use_fake(monkeypatch, browserstack_fake)
    pytester.makepyfile(**SCOPES_SUITE)
    res = run(pytester, "--testreport-browserstack-hook-threshold=0.2", *mode)
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    runs = check_build(browserstack_fake)  # also: every hook's finish has its start's hook_type
    names = {r.uuid: nodeid.split("::")[-1] for (nodeid, _), r in runs.items()}
    hooks = list(browserstack_fake.build.hooks.values())
    sent = sorted((names[h.start["test_run_id"]], h.start["hook_type"], h.finish["result"])
                  for h in hooks)  # fmt: skip
    assert sent == [
        ("test_c1", "beforeAll", "passed"), ("test_c2", "afterAll", "passed"),
        ("test_each", "afterEach", "passed"), ("test_each", "beforeEach", "passed"),
        ("test_first", "beforeAll", "passed"), ("test_only", "beforeAll", "failed"),
        ("test_third", "afterAll", "passed"),
    ]  # fmt: skip
    for h in hooks:
        assert h.finish["duration_in_ms"] >= 250 or h.finish["result"] == "failed"
        assert h.finish["hook_type"] == h.start["hook_type"]
    broken = next(h for h in hooks if h.finish["result"] == "failed")
    assert "broken_module" in broken.start["name"]
    assert any("no database" in line for line in broken.finish["failure"][0]["backtrace"])
    for r in runs.values():  # each test's finish lists exactly its own hooks
        mine = {h.uuid for h in hooks if h.start["test_run_id"] == r.uuid}
        assert set(r.finish.get("hooks", [])) == mine


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_log_entries_carry_their_records_times(pytester, monkeypatch, browserstack_fake,
                                               mode) -> None:  # fmt: skip
    use_fake(monkeypatch, browserstack_fake)
    pytester.makepyfile(test_logs="""
        import logging, time, pytest

        @pytest.fixture
        def noisy():
            logging.getLogger("app").warning("in setup")
            yield

        def test_logs(noisy):
            time.sleep(0.05)
            logging.getLogger("app").warning("first")
            time.sleep(0.05)
            logging.getLogger("app").error("second %s", 2)
            assert 0

        def test_quiet():
            logging.getLogger("app").error("not sent: the test passed")
        """)  # fmt: skip
    run(pytester, *mode)
    runs = check_build(browserstack_fake)
    failed = runs[("test_logs.py::test_logs", 1)]
    assert not runs[("test_logs.py::test_quiet", 1)].logs  # failed tests only, by default
    records = [e for e in failed.logs if not e["message"].startswith("[")]
    assert [(e["level"], e["message"]) for e in records] == [
        ("WARN", "in setup"), ("WARN", "first"), ("ERROR", "second 2")]  # fmt: skip
    times = [datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in records]
    started = datetime.fromisoformat(failed.start["started_at"].replace("Z", "+00:00"))
    assert times == sorted(times) and started <= times[0]
    assert times[1] - times[0] >= timedelta(milliseconds=40)
    assert times[2] - times[1] >= timedelta(milliseconds=40)
    assert times[1] != started and times[2] != started


LIVE_SUITE = """
import os, time
import requests

URL = os.environ["TESTREPORT_BROWSERSTACK_API_URL"]
AUTH = (os.environ["BROWSERSTACK_USERNAME"], os.environ["BROWSERSTACK_ACCESS_KEY"])


def get(path):
    return requests.get(URL + path, auth=AUTH, timeout=5).json()


def running_runs():
    names = {}
    for project in get("/projects")["projects"]:
        for build in get(f"/projects/{project['id']}/builds")["builds"]:
            for run in get(f"/builds/{build['build_id']}/testRuns")["test_runs"]:
                names[run["name"]] = run["status"]
    return names


def test_first():
    pass


def test_seen_while_running():
    # This test's own run is started on BrowserStack while it runs, not when it ends.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if running_runs().get("test_seen_while_running") == "pending":
            return
        time.sleep(0.05)
    raise AssertionError(f"no live start; runs: {running_runs()}")
"""


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_test_runs_start_while_the_test_runs(
    pytester, monkeypatch, browserstack_fake, extra: list[str]
) -> None:
    use_fake(monkeypatch, browserstack_fake)
    pytester.makepyfile(test_live=LIVE_SUITE)
    run(pytester, *extra).assert_outcomes(passed=2)
    build = browserstack_fake.build
    runs = {r.name: r for r in build.tests.values()}
    live = runs["test_seen_while_running"]
    assert live.finish is not None and live.finish_count == 1
    assert (
        live.start["custom_metadata"]["testreport.id"]
        == live.finish["custom_metadata"]["testreport.id"]
    )
    assert "pytest.outcome" not in live.start["custom_metadata"]  # not known at the start
    assert len(build.tests) == 2  # one run per test: the live start was not sent again
