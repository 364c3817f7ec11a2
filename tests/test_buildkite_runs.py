"""The Buildkite Test Engine target against the fake: streamed uploads, faults, reading back.

The mapping is tested in tests/test_buildkite_mapping.py; outcomes in
tests/test_outcome_suite.py.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import os
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from pytest_testreport.cli import main as cli_main
from pytest_testreport.config import settings_from_env
from pytest_testreport.engine.engine import MAX_BACKLOG
from pytest_testreport.targets.buildkite import target as bk
from pytest_testreport.targets.buildkite.reader import BuildkiteReader
from tests.buildkite_helpers import (
    FAST,
    SUITE,
    def_lines,
    final,
    our_outcomes,
    records,
    use_fake,
)
from tests.fakes import AUTO, FakeBuildkite
from tests.junit import junit_outcomes

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


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
        controller = SEEN["config"].pluginmanager.get_plugin("testreport-controller")
        delivery = controller.delivery
        if hasattr(delivery, "_senders"):  # delivery in threads: what each sender holds
            backlog = max(len(getattr(s, "pending", ())) for s in delivery._senders)
        else:  # a delivery process: what the pytest process holds until the feeder sends it
            backlog = len(controller.feeder._queue)
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
