"""Runs of pytest with the ``buddy`` target against the fake Buddy Unit Tests API.

The mapping is tested in tests/test_buddy_mapping.py; outcomes in tests/test_outcome_suite.py.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.cli import main as cli_main
from pytest_testreport.config import settings_from_env
from pytest_testreport.targets.buddy.reader import BuddyReader, failed_session

from .buddy_helpers import (
    SUITE_TESTS,
    add_cases,
    assert_close_last,
    assert_every_case_once,
    buddy_counts,
    buddy_statuses,
    fragment,
    junit_statuses,
    props,
    write_suite,
)
from .fakes.buddy import FakeBuddy
from .junit import junit_counts

# -- runs against the fake ---------------------------------------------------------------------


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeBuddy, **extra: str) -> None:
    for name, value in {**fake.env(), **extra}.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_suite_matches_junitxml(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    buddy_fake: FakeBuddy,
    mode: list[str],
) -> None:
    write_suite(pytester)
    use_fake(
        monkeypatch,
        buddy_fake,
        GITHUB_ACTIONS="true",
        GITHUB_RUN_ID="42",
        GITHUB_REF="refs/heads/main",
        GITHUB_SHA="abc123",
        GITHUB_REPOSITORY="o/r",
    )
    junit = pytester.path / "junit.xml"
    run = pytester.runpytest_subprocess(
        "--testreport=buddy", f"--junitxml={junit}", "--continue-on-collection-errors", *mode
    )
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    session = buddy_fake.session
    assert session.fields == {
        "ci_provider": "GITHUB_ACTION",
        "ref_type": "BRANCH",
        "ref_name": "main",
        "revision": "abc123",
        "run_id": "42",
        "ci_run_url": "https://github.com/o/r/actions/runs/42",
    }
    assert_every_case_once(buddy_fake, SUITE_TESTS)
    assert buddy_statuses(session) == junit_statuses(junit)
    assert buddy_counts(session) == junit_counts(junit)
    assert max(session.batch_sizes) <= 100
    assert session.close_bodies == [{"status": "ERROR"}]
    run.stdout.fnmatch_lines(
        [
            f"testreport buddy: session {session.id} ERROR — 32 tests, *"
            f" — https://app.buddy.works/*/{session.id}"
        ]
    )
    cases = {c.name: c for c in session.cases.values()}
    deep = cases["test_deep"]
    assert (deep.classname, deep.test_group_name) == (
        "test_alpha.TestGroup.TestInner",
        "test_alpha.py",
    )
    broken = cases["test_broken_import.py"]
    assert (broken.classname, broken.test_group_name, broken.status) == (
        "test_broken_import",
        "test_broken_import.py",
        "ERROR",
    )
    assert cases["test_many[3]"].test_group_name == "sub/test_beta.py"
    assert all(isinstance(c.time, float) and c.time >= 0 for c in cases.values())
    failed = fragment(cases["test_fail"]).find("failure")
    assert failed is not None and "alpha <failed> &  red ]]>" in failed.get("message", "")
    assert "\x1b" not in cases["test_fail"].data and "\x07" not in cases["test_fail"].data  # type: ignore[operator]
    teardown = fragment(cases["test_teardown_error"]).find("error")
    assert teardown is not None and teardown.get("message", "").startswith("error in teardown")
    assert (
        fragment(cases["test_strict"]).find("failure").get("message").startswith("[XPASS(strict)]")
    )  # type: ignore[union-attr]
    steps = props(fragment(cases["test_steps"]))
    lines = [v for k, v in steps if k == "pytest.step"]
    assert lines[0].startswith("passed: Given outer (") and lines[1].startswith("  passed: inner (")
    assert {("ticket", "PROJ-1"), ("k", "v"), ("pytest.marker", "smoke")} <= set(steps)
    if mode:
        assert any(
            ("pytest.worker", "gw0") in props(fragment(c))
            or ("pytest.worker", "gw1") in props(fragment(c))
            for c in cases.values()
        )


def test_cases_arrive_while_the_suite_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(
        test_live="""
        import os, time, requests
        def test_first(): pass
        def test_waits_for_delivery():
            env = os.environ
            url = (env["BUDDY_API_URL"] + "workspaces/" + env["TESTREPORT_BUDDY_WORKSPACE"]
                   + "/projects/" + env["TESTREPORT_BUDDY_PROJECT"] + "/unit-tests/suites/"
                   + env["TESTREPORT_BUDDY_SUITE"] + "/sessions")
            auth = {"Authorization": "Bearer " + os.environ["BUDDY_TOKEN"]}
            deadline = time.time() + 15
            while time.time() < deadline:
                sessions = requests.get(url, headers=auth, timeout=5).json()["sessions"]
                if sessions and sessions[0]["tests_count"] >= 1:
                    return
                time.sleep(0.05)
            raise AssertionError("nothing was delivered while the suite ran")
        """
    )
    use_fake(monkeypatch, buddy_fake)
    pytester.runpytest_subprocess("--testreport=buddy").assert_outcomes(passed=2)
    assert_every_case_once(buddy_fake, 2)


FAULTS = {
    "5xx": lambda fake: (fake.fail_next(1, 503, path="/cases/batch$"), fake.fail_ratio(0.3, 503)),
    "resets": lambda fake: fake.reset_next(4),
    "429": lambda fake: fake.fail_next(2, 429, headers={"Retry-After": "1"}, path="/cases/batch$"),
    "slow": lambda fake: fake.slow_next(2, 1.5),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_faults_lose_and_duplicate_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy, fault: str
) -> None:
    write_suite(pytester)
    use_fake(monkeypatch, buddy_fake)
    if fault in ("resets", "slow"):
        # A create that may have been processed is never repeated (it would make two sessions):
        # these faults hit a joined session's case writes, which are upserts and are retried.
        monkeypatch.setenv("BUDDY_SESSION_ID", buddy_fake.add_session().id)
        monkeypatch.setenv("TESTREPORT_BUDDY_CLOSE", "true")
    FAULTS[fault](buddy_fake)
    run = pytester.runpytest_subprocess(
        "--testreport=buddy",
        "--testreport-batch-age=0.05",
        "--testreport-read-timeout=0.5",
        "--testreport-flush-timeout=30",
        "--continue-on-collection-errors",
        "-n",
        "2",
    )
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert "spooled" not in run.stdout.str()
    assert_every_case_once(buddy_fake, SUITE_TESTS, retried=fault == "slow")
    assert any(r.fault for r in buddy_fake.requests), "the fault never happened"


def test_outage_spools_and_replay_delivers_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    write_suite(pytester)
    use_fake(monkeypatch, buddy_fake)
    buddy_fake.outage()
    run = pytester.runpytest_subprocess(
        "--testreport=buddy", "--continue-on-collection-errors", "--testreport-flush-timeout=5"
    )
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    run.stdout.fnmatch_lines(["*pytest-testreport replay --target buddy*"])
    assert not buddy_fake.sessions
    buddy_fake.recover()
    monkeypatch.chdir(pytester.path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["replay"]) == 0, out.getvalue()
    assert_every_case_once(buddy_fake, SUITE_TESTS)
    with contextlib.redirect_stdout(out):
        assert cli_main(["replay"]) == 0  # nothing left: a second replay sends nothing
    assert len(buddy_fake.sessions) == 1


def test_wrong_token_is_named_once_and_spooled(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    write_suite(pytester)
    use_fake(monkeypatch, buddy_fake, BUDDY_UT_TOKEN="bud_ut_us_wrong")
    run = pytester.runpytest_subprocess("--testreport=buddy", "--continue-on-collection-errors")
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    output = run.stdout.str()
    assert output.count("the Buddy suite token from BUDDY_UT_TOKEN was refused") == 1, output
    assert "bud_ut_us_wrong" not in output + run.stderr.str()
    run.stdout.fnmatch_lines(["*32 results spooled (and the session close)*"])


def test_unknown_joined_session_is_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(test_j="def test_a(): pass\ndef test_b(): pass\n")
    use_fake(monkeypatch, buddy_fake, BUDDY_SESSION_ID="NoSuch42")
    run = pytester.runpytest_subprocess("--testreport=buddy")
    run.assert_outcomes(passed=2)
    assert run.stdout.str().count("BUDDY_SESSION_ID=NoSuch42: this session does not exist") == 1
    assert not buddy_fake.sessions


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main(list(args))
    return code, out.getvalue()


def test_sharded_ci_shares_one_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    use_fake(
        monkeypatch,
        buddy_fake,
        BUDDY="true",
        BUDDY_RUN_BRANCH="main",
        BUDDY_RUN_HASH="exec1",
        BUDDY_ACTION_RUN_HASH="act1",
    )
    code, out = cli("buddy", "open", "--export")
    assert code == 0 and out.startswith("BUDDY_SESSION_ID=")
    session_id = out.strip().split("=", 1)[1]
    assert buddy_fake.session.fields["execution_id"] == "exec1"
    monkeypatch.setenv("BUDDY_SESSION_ID", session_id)
    pytester.makepyfile(test_shard_a="def test_a1(): pass\ndef test_a2(): assert 0\n")
    pytester.runpytest_subprocess("--testreport=buddy", "test_shard_a.py").stdout.fnmatch_lines(
        [f"*joined session {session_id}*left open for pytest-testreport buddy close {session_id}"]
    )
    pytester.makepyfile(test_shard_b="def test_b1(): pass\n")
    pytester.runpytest_subprocess("--testreport=buddy", "test_shard_b.py").assert_outcomes(passed=1)
    assert buddy_fake.session.status == "IN_PROGRESS"
    code, out = cli("buddy", "close", session_id)
    assert code == 0 and "closed: ERROR (3 tests, 1 failed" in out
    session = buddy_fake.session
    assert {c.name for c in session.cases.values()} == {"test_a1", "test_a2", "test_b1"}
    assert_close_last(buddy_fake)
    assert cli("buddy", "close", "NoSuch42")[0] == 1


def test_open_and_close_through_the_workspace_path(
    monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    use_fake(monkeypatch, buddy_fake, TESTREPORT_BRANCH="main")
    monkeypatch.delenv("BUDDY_UT_TOKEN")  # the personal access token alone
    code, out = cli("buddy", "open")
    assert code == 0
    session = buddy_fake.session
    assert out.strip() == session.id and session.fields["ref_name"] == "main"
    assert buddy_fake.matching("POST", r"^/workspaces/.*/suites/MNbyVedg/sessions$", accepted=True)
    assert cli("buddy", "close", session.id)[0] == 0 and session.status == "SUCCESSFUL"
    assert cli("buddy", "reopen", session.id)[0] == 0 and session.status == "IN_PROGRESS"


# -- reading back ------------------------------------------------------------------------------


def cli_json(*args: str) -> Any:
    code, out = cli(*args, "--target", "buddy", "--json")
    assert code == 0, out
    return json.loads(out)


def test_list_paginates(monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy) -> None:
    use_fake(monkeypatch, buddy_fake)
    for number in range(45):
        session = buddy_fake.add_session(
            ref_type="BRANCH", ref_name="main" if number % 3 else "dev"
        )
        session.status = "SUCCESSFUL"
    ids = [s["id"] for s in cli_json("list", "--per-page", "20", "--page", "3")]
    assert len(ids) == 5
    assert [s["relative_id"] for s in cli_json("list", "--per-page", "20", "--page", "3")] == list(
        range(5, 0, -1)
    )
    everything = cli_json("list", "--per-page", "150")
    assert [s["relative_id"] for s in everything] == list(range(45, 0, -1))
    assert len(cli_json("list", "--per-page", "150", "--page", "2")) == 0
    main = cli_json("list", "--branch", "main", "--per-page", "100")
    assert len(main) == 30 and {s["branch"] for s in main} == {"main"}
    first = everything[0]
    assert (first["status"], first["service_status"], first["branch"]) == (
        "successful",
        "SUCCESSFUL",
        "main",
    )


def test_show_and_failed_read_every_page(
    monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    use_fake(monkeypatch, buddy_fake)
    session = buddy_fake.add_session(ref_type="BRANCH", ref_name="main")
    failing = [
        (f"tests/test_{i % 7}.py", f"tests.test_{i % 7}.TestC", f"test_{i}", "FAILED")
        for i in range(130)
    ]
    add_cases(
        session,
        [
            *failing,
            ("tests/test_x.py", "tests.test_x", "test_x.py", "ERROR"),
            ("tests/test_y.py", "tests.test_y", "test_ok", "PASSED"),
        ],
    )
    failed = cli_json("failed", session.id)
    assert len(failed) == 131
    assert failed[0]["nodeid"] == "tests/test_0.py::TestC::test_0"
    assert failed[0]["failure"]["message"] == "m0"
    assert failed[-1]["nodeid"] == "tests/test_x.py" and failed[-1]["kind"] == "collection_error"
    shown = cli_json("show", "latest")
    assert shown["id"] == session.id and len(shown["tests"]) == 132
    assert cli_json("failed", "latest", "--branch", "main")[0]["outcome"] == "failed"
    code, _ = cli("show", "NoSuch42", "--target", "buddy")
    assert code == 1


def test_pages_when_the_server_pages_smaller(
    monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    with FakeBuddy(buddy_fake.token, pat=buddy_fake.pat, max_per_page=30) as small:
        use_fake(monkeypatch, small)
        session = small.add_session()
        add_cases(session, [("t.py", "t", f"test_{i}", "FAILED") for i in range(75)])
        assert len(cli_json("failed", session.id)) == 75


def test_failed_session_for_failed_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    settings = settings_from_env({**buddy_fake.env(), "TESTREPORT_BRANCH": "main"}, tmp_path)
    assert failed_session(settings, None) == (None, [])
    older = buddy_fake.add_session(ref_type="BRANCH", ref_name="main")
    older.status = "ERROR"
    add_cases(
        older,
        [
            ("t.py", "t.TestA", "test_x[1]", "FAILED"),
            ("t.py", "t", "t.py", "ERROR"),
            ("t.py", "t", "test_ok", "PASSED"),
        ],
    )
    buddy_fake.add_session(ref_type="BRANCH", ref_name="main")  # newer, still running
    other = buddy_fake.add_session(ref_type="BRANCH", ref_name="dev")
    other.status = "ERROR"
    described, nodeids = failed_session(settings, None)
    assert described == f"buddy session {older.id} (#1) on branch main"
    assert nodeids == ["t.py::TestA::test_x[1]", "t.py"]
    assert failed_session(settings, other.id) == (f"buddy session {other.id} (#3)", [])
    with pytest.raises(pytest.UsageError, match="no session 'nope'"):
        failed_session(settings, "nope")
    with pytest.raises(pytest.UsageError, match="TESTREPORT_BUDDY_SUITE"):
        env = {k: v for k, v in buddy_fake.env().items() if k != "TESTREPORT_BUDDY_SUITE"}
        failed_session(settings_from_env(env, tmp_path), None)
    buddy_fake.unauthorized()  # a rejected token is a configuration error
    with pytest.raises(pytest.UsageError, match="401"):
        BuddyReader.failed_from(settings, None)
    buddy_fake.authorize()
    buddy_fake.outage()  # an unreachable service: run everything, and say why
    found = BuddyReader.failed_from(settings, None)
    assert found.nodeids == [] and found.message.startswith("testreport: cannot read Buddy (")
    assert found.message.endswith("); running all tests")


def test_failed_from_buddy_reruns_what_failed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(
        test_sel="""
        import os, pytest
        FAIL = set(os.environ.get("FAIL_THESE", "").split(","))
        @pytest.mark.parametrize("n", range(4))
        def test_param(n): assert f"p{n}" not in FAIL
        def test_b(): assert "b" not in FAIL
        """
    )
    use_fake(monkeypatch, buddy_fake, FAIL_THESE="p1,b", TESTREPORT_BRANCH="main")
    pytester.runpytest_subprocess("--testreport=buddy").assert_outcomes(passed=3, failed=2)
    run = pytester.runpytest_subprocess("--testreport-failed-from=buddy", "-v")
    run.assert_outcomes(failed=2)
    run.stdout.fnmatch_lines(
        ["*FAILED*test_sel.py::test_param?1?*", "*FAILED*test_sel.py::test_b*"]
    )


# -- bad input and configuration ---------------------------------------------------------------


def test_hostile_output_is_cleaned_and_bounded(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(
        test_bad="""
        import sys, pytest
        @pytest.mark.testreport_metadata(note="bell\\x07 and \\x1b[31mred")
        @pytest.mark.parametrize("v", [1], ids=["y" * 3000])
        def test_huge(v):
            print("out\\x00put \\x85 " * 50000)
            sys.stderr.write("\\ud800 err " * 50000)
            assert False, "\\n".join(f"line {i} \\x01" for i in range(5000))
        def test_deep():
            def recurse(n): return recurse(n + 1) if n < 400 else 1 / 0
            recurse(0)
        """
    )
    use_fake(monkeypatch, buddy_fake)
    pytester.runpytest_subprocess("--testreport=buddy", "--testreport-capture=all").assert_outcomes(
        failed=2
    )
    assert not [r for r in buddy_fake.requests if r.status and r.status >= 400], buddy_fake.errors
    assert_every_case_once(buddy_fake, 2)
    for case in buddy_fake.session.cases.values():
        assert len(case.data.encode()) <= 64 * 1024  # type: ignore[union-attr]
        assert "[truncated" in case.data  # type: ignore[operator]
    huge = next(c for c in buddy_fake.session.cases.values() if c.name.startswith("test_huge"))
    assert len(huge.name) == 1000
    assert ("note", "bell and red") in props(fragment(huge))


def test_configuration_errors_name_the_setting(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_c="def test_a(): pass\n")
    run = pytester.runpytest("--testreport=buddy")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "set BUDDY_UT_TOKEN" in "\n".join(run.errlines)
    monkeypatch.setenv("BUDDY_UT_TOKEN", "bud_ut_us_x")
    monkeypatch.setenv("BUDDY_API_URL", "ftp://nowhere")
    run = pytester.runpytest("--testreport=buddy")
    assert "invalid value 'ftp://nowhere' for BUDDY_API_URL" in "\n".join(run.errlines)
    monkeypatch.delenv("BUDDY_API_URL")
    monkeypatch.delenv("BUDDY_UT_TOKEN")
    assert cli("buddy", "open")[0] == 2  # no token at all: a usage error
    assert cli("list", "--target", "buddy")[0] == 2  # no PAT: a usage error
