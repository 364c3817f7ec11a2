"""``--testreport-failed-from=local`` reruns what failed in the latest recorded session."""

from __future__ import annotations

import pytest

SUITE = """
import os
import pytest

FAIL = set(os.environ.get("FAIL_THESE", "").split(","))

@pytest.mark.parametrize("n", range(4))
def test_param(n):
    assert f"p{n}" not in FAIL

def test_a():
    assert "a" not in FAIL

def test_b():
    assert "b" not in FAIL
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["plain", "n2"])
def test_reruns_only_failed_tests(pytester: pytest.Pytester, monkeypatch, xdist: bool) -> None:
    if xdist:
        pytest.importorskip("xdist")
    extra = ["-n", "2"] if xdist else []
    pytester.makepyfile(test_sel=SUITE)
    monkeypatch.setenv("FAIL_THESE", "p1,b")
    monkeypatch.setenv("TESTREPORT_BRANCH", "main")
    pytester.runpytest_subprocess("--testreport", *extra).assert_outcomes(passed=4, failed=2)

    result = pytester.runpytest_subprocess("--testreport-failed-from=local", "-v", *extra)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*running the 2 tests that failed or errored in local session 1*"])
    result.stdout.fnmatch_lines(["*FAILED*test_sel.py::test_param?1?*"])
    result.stdout.fnmatch_lines(["*FAILED*test_sel.py::test_b*"])

    monkeypatch.setenv("FAIL_THESE", "")
    pytester.runpytest_subprocess("--testreport", "--testreport-failed-from=local", *extra)
    # Session 2 fixed both; the next failed-from run has nothing to narrow to: runs all.
    result = pytester.runpytest_subprocess("--testreport-failed-from=local", *extra)
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*nothing failed in local session 2; running all tests*"])


def test_branch_decides_which_session(pytester: pytest.Pytester, monkeypatch) -> None:
    pytester.makepyfile(test_sel=SUITE)
    monkeypatch.setenv("FAIL_THESE", "a")
    pytester.runpytest("--testreport", "--testreport-branch=feature").assert_outcomes(
        passed=5, failed=1
    )
    monkeypatch.setenv("FAIL_THESE", "b")
    pytester.runpytest("--testreport", "--testreport-branch=main").assert_outcomes(
        passed=5, failed=1
    )
    result = pytester.runpytest("--testreport-failed-from=local", "--testreport-branch=feature")
    result.assert_outcomes(passed=1)  # test_a passes now (FAIL_THESE=b)


def test_collection_error_file_is_rerun_whole(pytester: pytest.Pytester, monkeypatch) -> None:
    pytester.makepyfile(test_sel=SUITE, test_broken="import nope_missing\ndef test_x(): pass\n")
    pytester.runpytest("--testreport")
    pytester.makepyfile(test_broken="def test_x(): pass\ndef test_y(): pass\n")
    result = pytester.runpytest("--testreport-failed-from=local")
    result.assert_outcomes(passed=2)


def test_missing_store_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sel=SUITE)
    result = pytester.runpytest("--testreport-failed-from=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no local store at" in "\n".join(result.errlines)


def test_a_named_session_is_used(pytester: pytest.Pytester, monkeypatch) -> None:
    pytester.makepyfile(test_sel=SUITE)
    monkeypatch.setenv("FAIL_THESE", "a")
    pytester.runpytest("--testreport").assert_outcomes(passed=5, failed=1)
    monkeypatch.setenv("FAIL_THESE", "b,p0")
    pytester.runpytest("--testreport").assert_outcomes(passed=4, failed=2)
    monkeypatch.setenv("FAIL_THESE", "")
    result = pytester.runpytest("--testreport-failed-from=local:1", "-v")
    result.assert_outcomes(passed=1)  # only test_a, which failed in session 1
    result.stdout.fnmatch_lines(["*running the 1 tests that failed or errored in local session 1*"])
    result = pytester.runpytest("--testreport-failed-from=local:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--testreport-failed-from=local:9" in "\n".join(result.errlines)
