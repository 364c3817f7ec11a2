"""Every pytest outcome is recorded as pytest reports it, by every target.

One suite for all four targets: each case runs once per target (the ``target`` fixture of
tests/outcome_adapters.py), which reads back from its fake or store what it recorded. What a
target records beyond that is checked in that target's own test files.
"""

from __future__ import annotations

from typing import Callable

import pytest

from .buddy_helpers import fragment, props
from .conftest import latest
from .outcome_adapters import Adapter, Seen, target

__all__ = ["target"]  # the fixture, imported so that the tests here find it

OUTCOMES_SUITE = """
import pytest

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup exploded")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown exploded")

@pytest.fixture
def skipping_fixture():
    pytest.skip("fixture says skip")

def test_pass():
    pass

def test_fail():
    assert 1 + 1 == 3

def test_setup_error(broken_setup):
    pass

def test_teardown_error_after_pass(broken_teardown):
    pass

def test_fail_and_teardown_error(broken_teardown):
    assert False, "call failed"

@pytest.mark.skip(reason="marker skip")
def test_skip_marker():
    pass

@pytest.mark.skipif(True, reason="skipif reason")
def test_skipif():
    pass

def test_skip_in_fixture(skipping_fixture):
    pass

def test_skip_in_body():
    pytest.skip("body skip")

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

def test_xfail_imperative():
    pytest.xfail("imperative xfail")

@pytest.mark.xfail(reason="lenient")
def test_xpass():
    pass

@pytest.mark.xfail(reason="must fail", strict=True)
def test_strict_xpass():
    pass

@pytest.mark.xfail(reason="not run", run=False)
def test_xfail_not_run():
    pass
"""

EXPECTED = {
    "test_pass": ("passed", None),
    "test_fail": ("failed", None),
    "test_setup_error": ("error", None),
    "test_teardown_error_after_pass": ("error", None),
    "test_fail_and_teardown_error": ("failed", None),
    "test_skip_marker": ("skipped", "marker skip"),
    "test_skipif": ("skipped", "skipif reason"),
    "test_skip_in_fixture": ("skipped", "fixture says skip"),
    "test_skip_in_body": ("skipped", "body skip"),
    "test_xfail": ("xfailed", "known bug"),
    "test_xfail_imperative": ("xfailed", "imperative xfail"),
    "test_xpass": ("xpassed", "lenient"),
    "test_strict_xpass": ("failed", None),
    "test_xfail_not_run": ("xfailed", "[NOTRUN] not run"),
}

# What each failure says (in its message or traceback), and the phase that failed.
FAILURES = {
    "test_fail": (["assert (1 + 1) == 3", "def test_fail"], "call"),
    "test_setup_error": (["RuntimeError: setup exploded"], "setup"),
    "test_teardown_error_after_pass": (["RuntimeError: teardown exploded"], "teardown"),
    "test_fail_and_teardown_error": (["call failed", "teardown exploded"], "call"),
    "test_strict_xpass": (["XPASS(strict)"], "call"),
}


def run(pytester: pytest.Pytester, target: Adapter, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*target.args(), "-p", "no:cacheprovider", *args)


def by_name(final: dict[str, Seen]) -> dict[str, Seen]:
    return {nodeid.split("::")[-1]: seen for nodeid, seen in final.items()}


def test_every_outcome_matches_pytest(pytester: pytest.Pytester, target: Adapter) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES_SUITE)
    result = run(pytester, target)
    # pytest counts the pass before a teardown error as passed too
    result.assert_outcomes(passed=2, failed=3, errors=3, skipped=4, xfailed=3, xpassed=1)
    tests = by_name(target.final(pytester))
    assert {name: seen.outcome for name, seen in tests.items()} == {
        name: outcome for name, (outcome, _) in EXPECTED.items()
    }
    assert {name: seen.status for name, seen in tests.items()} == {
        name: target.status[outcome] for name, (outcome, _) in EXPECTED.items()
    }
    for name, (outcome, reason) in EXPECTED.items():
        if outcome in target.reasons:
            assert tests[name].reason == reason, name
    for name, (texts, phase) in FAILURES.items():
        for text in texts:
            assert text in tests[name].text, (name, text, tests[name].text)
        if target.phases:
            assert tests[name].phase == phase, name
    assert tests["test_pass"].text == ""
    if target.name == "local":  # the store counts the session
        session = latest(pytester)
        assert session["tests_count"] == 14
        assert session["failed_count"] == 3
        assert session["error_count"] == 2
        assert session["skipped_count"] == 7  # skips plus xfails
        assert session["status"] == "error"
        assert session["error_message"] == "3 failed, 2 errors"
        failures = {t["name"]: t["failure"] for t in session["tests"] if t["failure"]}
        assert failures["test_setup_error"]["message"] == "RuntimeError: setup exploded"
        assert failures["test_teardown_error_after_pass"]["message"] == (
            "RuntimeError: teardown exploded"
        )
        assert "assert (1 + 1) == 3" in failures["test_fail"]["message"]
        both = failures["test_fail_and_teardown_error"]["message"]
        assert "call failed" in both and "teardown exploded" in both


@pytest.mark.parametrize("extra_args", [[], ["--continue-on-collection-errors"]])
def test_collection_errors_are_error_results(
    pytester: pytest.Pytester, target: Adapter, extra_args: list[str]
) -> None:
    pytester.makepyfile(
        test_import_error="import module_that_does_not_exist\n\ndef test_x(): pass\n",
        test_syntax_error="def test_y(:\n    pass\n",
        test_fine="def test_ok(): pass\n",
    )
    result = run(pytester, target, *extra_args)
    assert result.ret != 0
    tests = target.final(pytester)
    for path, text in [
        ("test_import_error.py", "module_that_does_not_exist"),
        ("test_syntax_error.py", "SyntaxError"),
    ]:
        seen = tests[path]
        assert (seen.outcome, seen.kind, seen.status) == (
            "error",
            "collection_error",
            target.status["error"],
        )
        assert text in seen.text, seen.text
    if extra_args:
        assert tests["test_fine.py::test_ok"].outcome == "passed"
    else:  # pytest stops before running anything
        assert "test_fine.py::test_ok" not in tests
    if target.name == "local":
        session = latest(pytester)
        assert (session["error_count"], session["status"]) == (2, "error")
        assert {t["name"] for t in session["tests"] if t["kind"] == "collection_error"} == {
            "test_import_error.py",
            "test_syntax_error.py",
        }


RERUN_SUITE = """
import pytest
calls = {"flaky": 0, "setup": 0}

@pytest.fixture
def flaky_setup():
    calls["setup"] += 1
    if calls["setup"] < 2:
        raise RuntimeError("setup flake")

def test_flaky():
    calls["flaky"] += 1
    assert calls["flaky"] >= 3, f"attempt {calls['flaky']} fails"

def test_flaky_setup(flaky_setup):
    pass

def test_always_fails():
    assert False, "always"
"""


def check_buddy_reruns(target: Adapter, pytester: pytest.Pytester) -> None:
    """Buddy upserts one case: earlier attempts are flakyFailure/rerunFailure elements."""
    session = target.fake.session
    assert session.upserts == 0 and len(session.cases) == 3
    flaky = fragment(session.case("test_flaky"))
    assert [e.get("message") for e in flaky.findall("flakyFailure")] == [
        "attempt 1: AssertionError: attempt 1 fails\nassert 1 >= 3",
        "attempt 2: AssertionError: attempt 2 fails\nassert 2 >= 3",
    ]
    assert ("pytest.attempts", "3") in props(flaky)
    assert len(fragment(session.case("test_always_fails")).findall("rerunFailure")) == 2
    setup = fragment(session.case("test_flaky_setup"))
    assert [e.get("message") for e in setup.findall("flakyError")] == [
        "attempt 1: RuntimeError: setup flake"
    ]


def check_browserstack_reruns(target: Adapter, pytester: pytest.Pytester) -> None:
    """Every attempt is its own test run; retried ones carry the tag ``rerun``."""
    runs = {}
    for run_ in target.fake.build.tests.values():
        meta = run_.finish["custom_metadata"]
        runs[(meta["pytest.nodeid"], meta["attempt"])] = run_
    first, second = (
        runs[("test_flaky.py::test_flaky", "1")],
        runs[("test_flaky.py::test_flaky", "2")],
    )
    assert "rerun" not in first.start.get("tags", []) and "rerun" in second.start["tags"]
    assert "rerun" in second.finish["tags"]


def check_buildkite_reruns(target: Adapter, pytester: pytest.Pytester) -> None:
    """Every attempt is an execution of one run; earlier ones are tagged ``pytest.rerun``."""
    assert len(target.fake.runs) == 1


def check_local_reruns(target: Adapter, pytester: pytest.Pytester) -> None:
    session = latest(pytester)
    assert (session["tests_count"], session["failed_count"], session["error_count"]) == (3, 1, 0)


RERUN_CHECKS: dict[str, Callable[[Adapter, pytest.Pytester], None]] = {
    "local": check_local_reruns,
    "buddy": check_buddy_reruns,
    "browserstack": check_browserstack_reruns,
    "buildkite": check_buildkite_reruns,
}


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_reruns_record_every_attempt(
    pytester: pytest.Pytester, target: Adapter, mode: list[str]
) -> None:
    pytest.importorskip("pytest_rerunfailures")
    if mode:
        pytest.importorskip("xdist")
    pytester.makepyfile(test_flaky=RERUN_SUITE)
    result = run(pytester, target, "--reruns", "2", *mode)
    assert result.parseoutcomes() == {"passed": 2, "failed": 1, "rerun": 5}
    attempts = sorted(
        (seen.nodeid.split("::")[-1], seen.attempt, seen.outcome, seen.final)
        for seen in target.read(pytester)
    )
    assert attempts == [
        ("test_always_fails", 1, "failed", False),
        ("test_always_fails", 2, "failed", False),
        ("test_always_fails", 3, "failed", True),
        ("test_flaky", 1, "failed", False),
        ("test_flaky", 2, "failed", False),
        ("test_flaky", 3, "passed", True),
        ("test_flaky_setup", 1, "error", False),
        ("test_flaky_setup", 2, "passed", True),
    ]
    final = by_name(target.final(pytester))
    assert {name: seen.status for name, seen in final.items()} == {
        "test_always_fails": target.status["failed"],
        "test_flaky": target.status["passed"],
        "test_flaky_setup": target.status["passed"],
    }
    RERUN_CHECKS[target.name](target, pytester)


def test_a_crashed_worker_test_is_an_error(pytester: pytest.Pytester, target: Adapter) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        test_crash="""
        import os
        def test_before(): pass
        def test_crash(): os._exit(1)
        def test_after(): pass
        """
    )
    result = run(pytester, target, "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    tests = by_name(target.final(pytester))
    assert set(tests) == {"test_before", "test_crash", "test_after"}
    crash = tests["test_crash"]
    assert (crash.outcome, crash.kind, crash.status) == ("error", "crash", target.status["error"])
    assert "crashed while running" in crash.text, crash.text
    assert tests["test_before"].outcome == tests["test_after"].outcome == "passed"
    if target.name == "local":
        session = latest(pytester)
        assert (session["tests_count"], session["error_count"]) == (3, 1)
    elif target.name == "buddy":  # the error element names the crash
        error = fragment(target.fake.session.case("test_crash")).find("error")
        assert error is not None and error.get("message", "").startswith("worker crashed")
    elif target.name == "buildkite":
        assert len(target.fake.runs) == 1


def test_subtest_failure_fails_parent(pytester: pytest.Pytester, target: Adapter) -> None:
    if int(pytest.__version__.split(".")[0]) < 9:
        pytest.skip("built-in subtests need pytest 9")
    pytester.makepyfile(
        test_sub="""
        def test_with_subtests(subtests):
            for i in range(3):
                with subtests.test(msg="check", i=i):
                    assert i != 1

        def test_subtests_ok(subtests):
            with subtests.test(msg="fine"):
                pass
        """
    )
    run(pytester, target)
    tests = by_name(target.final(pytester))
    assert set(tests) == {"test_with_subtests", "test_subtests_ok"}
    parent = tests["test_with_subtests"]
    assert (parent.outcome, parent.status) == ("failed", target.status["failed"])
    assert "i=1" in parent.text, parent.text
    assert tests["test_subtests_ok"].outcome == "passed"
    if target.name == "local":
        session = latest(pytester)
        assert (session["tests_count"], session["failed_count"]) == (2, 1)
