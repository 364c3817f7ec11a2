"""``--testreport-quarantine=SOURCE``: quarantined failures are reported, tagged, and forgiven."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_testreport.quarantine_sources import flaky_in_store
from pytest_testreport.targets.local.target import connect

from . import buildkite_helpers as bk
from .browserstack_helpers import runs_by_attempt
from .buddy_helpers import fragment, props
from .conftest import by_nodeid, latest
from .helpers_store import make_result, record

SUITE = """
import os
FAIL = set(os.environ.get("FAIL_THESE", "").split(","))
def test_flaky(): assert "flaky" not in FAIL
def test_solid(): assert "solid" not in FAIL
def test_ok(): pass
"""
NOW = datetime.now(timezone.utc)


# -- the local source ---------------------------------------------------------------------------
def test_flaky_in_store(tmp_path: Path) -> None:
    store = tmp_path / "results.sqlite"
    old = NOW - timedelta(days=60)
    runs = [  # (revision, started, results)
        ("r0", old, [make_result("t::old", "failed")]),
        ("r0", old, [make_result("t::old")]),  # flaky, but 60 days ago
        ("r1", NOW, [make_result("t::same_rev", "failed"), make_result("t::two_revs", "failed")]),
        ("r1", NOW, [make_result("t::same_rev"), make_result("t::other", "error")]),
        ("r2", NOW, [make_result("t::two_revs"), make_result("t::other")]),
        (
            "r3",
            NOW,
            [make_result("t::rerun", "failed", final=False), make_result("t::rerun", attempt=2)],
        ),
    ]
    for revision, started, results in runs:
        record(store, results, revision=revision, started=started)
    conn = connect(store)
    try:
        assert flaky_in_store(conn, 10, 30) == ["t::rerun", "t::same_rev"]
        assert flaky_in_store(conn, 10, 0) == ["t::old", "t::rerun", "t::same_rev"]
        assert flaky_in_store(conn, 1, 0) == ["t::rerun"]  # only the newest session
    finally:
        conn.close()


def flaky_history(pytester: pytest.Pytester) -> None:
    """test_flaky passed and failed on one revision: the store calls it flaky."""
    store = pytester.path / ".testreport" / "results.sqlite"
    record(store, [make_result("test_q.py::test_flaky", "failed")], started=NOW)
    record(store, [make_result("test_q.py::test_flaky")], started=NOW)


def test_local_quarantine_forgives_a_flaky_failure(pytester, monkeypatch) -> None:
    pytester.makepyfile(test_q=SUITE)
    flaky_history(pytester)
    monkeypatch.setenv("FAIL_THESE", "flaky")
    result = pytester.runpytest("--testreport", "--testreport-quarantine=local")
    result.assert_outcomes(passed=2, failed=1)  # its real outcome
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([
        "testreport: quarantine: 1 tests (flaky in the last 10 sessions within 30 days of *)",
        "*= 1 quarantined failed =*",
        "QUARANTINED test_q.py::test_flaky - AssertionError: *",
        "testreport: only quarantined tests failed: they do not fail the run",
    ])  # fmt: skip
    tests = by_nodeid(latest(pytester))
    assert tests["test_q.py::test_flaky"]["outcome"] == "failed"
    assert tests["test_q.py::test_flaky"]["tags"] == ["quarantined"]
    assert tests["test_q.py::test_ok"]["tags"] == []


@pytest.mark.parametrize("xdist", [False, True], ids=["plain", "n2"])
def test_another_failure_still_fails_the_run(pytester, monkeypatch, xdist: bool) -> None:
    pytester.makepyfile(test_q=SUITE)
    flaky_history(pytester)
    monkeypatch.setenv("FAIL_THESE", "flaky,solid")
    extra = ["-n", "2"] if xdist else []
    result = pytester.runpytest_subprocess("--testreport-quarantine=local", *extra)
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["QUARANTINED test_q.py::test_flaky*",
                                 "testreport: other tests failed too: the run fails"])  # fmt: skip
    monkeypatch.setenv("FAIL_THESE", "flaky")
    result = pytester.runpytest_subprocess("--testreport-quarantine=local", *extra)
    assert result.ret == pytest.ExitCode.OK


def test_without_the_option_the_exit_status_is_pytests(pytester, monkeypatch) -> None:
    pytester.makepyfile(test_q=SUITE)
    flaky_history(pytester)
    monkeypatch.setenv("FAIL_THESE", "flaky")
    result = pytester.runpytest("--testreport")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "quarantine" not in result.stdout.str()
    assert by_nodeid(latest(pytester))["test_q.py::test_flaky"]["tags"] == []


def test_a_stopped_run_is_not_forgiven(pytester, monkeypatch) -> None:
    pytester.makepyfile(test_q=SUITE)
    flaky_history(pytester)
    monkeypatch.setenv("FAIL_THESE", "flaky")
    result = pytester.runpytest("--testreport-quarantine=local", "-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the tests after it never ran


@pytest.mark.parametrize("source", ["missing.txt", "local"])
def test_an_unreadable_source_quarantines_nothing(pytester, monkeypatch, source: str) -> None:
    pytester.makepyfile(test_q=SUITE)
    monkeypatch.setenv("FAIL_THESE", "flaky")
    result = pytester.runpytest(f"--testreport-quarantine={source}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    expected = "cannot read *missing.txt*" if source != "local" else "no local store at *"
    result.stdout.fnmatch_lines([f"testreport: quarantine: {expected}; nothing is quarantined"])
    assert "QUARANTINED" not in result.stdout.str()


def test_a_file_of_node_ids_and_the_tag_on_every_target(
    pytester, monkeypatch, buddy_fake, browserstack_fake, buildkite_fake
) -> None:
    pytester.makepyfile(test_q=SUITE)
    (pytester.path / "quarantine.txt").write_text(
        "# known flaky\ntest_q.py::test_flaky  # JIRA-1\n\ntest_other.py\n"
    )
    bk.use_fake(monkeypatch, buildkite_fake)
    for fake in (buddy_fake, browserstack_fake):
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("FAIL_THESE", "flaky")
    result = pytester.runpytest_subprocess(
        "--testreport=local,buddy,browserstack,buildkite", "--testreport-flush-timeout=20",
        "--testreport-quarantine=quarantine.txt",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["testreport: quarantine: 2 tests (listed in *quarantine.txt)"])
    local = by_nodeid(latest(pytester))["test_q.py::test_flaky"]
    assert (local["outcome"], local["tags"]) == ("failed", ["quarantined"])
    case = next(c for c in buddy_fake.session.cases.values() if c.name == "test_flaky")
    assert case.status == "FAILED"
    assert ("pytest.marker", "quarantined") in props(fragment(case))
    ok_case = next(c for c in buddy_fake.session.cases.values() if c.name == "test_ok")
    assert ("pytest.marker", "quarantined") not in props(fragment(ok_case))
    run = runs_by_attempt(browserstack_fake)[("test_q.py::test_flaky", 1)]
    assert run.result == "failed"
    assert "quarantined" in run.start["tags"] and "quarantined" in run.finish["tags"]
    records = bk.final(buildkite_fake)
    assert records["test_q.py::test_flaky"]["result"] == "failed"
    assert records["test_q.py::test_flaky"]["tags"]["pytest.quarantined"] == "true"
    assert "pytest.quarantined" not in records["test_q.py::test_ok"]["tags"]


# -- the Buildkite source -----------------------------------------------------------------------
def test_buildkite_muted_tests_are_quarantined(pytester, monkeypatch, buildkite_fake) -> None:
    pytester.makepyfile(test_q=SUITE)
    bk.use_fake(monkeypatch, buildkite_fake)
    buildkite_fake.mute("test_q.py", "test_flaky")
    monkeypatch.setenv("FAIL_THESE", "flaky")
    result = pytester.runpytest("--testreport-quarantine=buildkite")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([
        "testreport: quarantine: 1 tests (muted in Buildkite suite fake-org/fake-suite)",
        "QUARANTINED test_q.py::test_flaky*",
    ])  # fmt: skip
    assert any("/tests/muted" in r.path for r in buildkite_fake.accepted)


@pytest.mark.parametrize("status, expected", [
    (404, "*has no muted-tests list (404)*test states (quarantine) are enabled*"),
    (403, "*refused the muted-tests list*read_suites scope*"),
])  # fmt: skip
def test_buildkite_without_the_list_or_the_scope_is_a_usage_error(
    pytester, monkeypatch, buildkite_fake, status: int, expected: str
) -> None:
    pytester.makepyfile(test_q=SUITE)
    bk.use_fake(monkeypatch, buildkite_fake)
    if status == 404:
        buildkite_fake.muted = None
    else:
        buildkite_fake.fail_next(1, status=403, path="/tests/muted")
    result = pytester.runpytest("--testreport-quarantine=buildkite")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--testreport-quarantine=buildkite: {expected}"])


def test_buildkite_down_quarantines_nothing(pytester, monkeypatch, buildkite_fake) -> None:
    pytester.makepyfile(test_q=SUITE)
    bk.use_fake(monkeypatch, buildkite_fake, TESTREPORT_READ_TIMEOUT="1")
    buildkite_fake.mute("test_q.py", "test_flaky")
    buildkite_fake.fail_next(100, status=503, path="/tests/muted")
    monkeypatch.setenv("FAIL_THESE", "flaky")
    result = pytester.runpytest("--testreport-quarantine=buildkite")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["testreport: quarantine: cannot read Buildkite suite *: *"
                                 "; nothing is quarantined"])  # fmt: skip
