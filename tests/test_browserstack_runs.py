"""The BrowserStack target against the fake ``/ext/v1`` service: runs, faults, reading back.

The mapping is tested in tests/test_browserstack_mapping.py; outcomes in
tests/test_outcome_suite.py.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pytest_testreport.model import Failure, Outcome, Session
from pytest_testreport.targets.browserstack import target as bs

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
from .test_browserstack_mapping import result

pytest.importorskip("xdist")


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
