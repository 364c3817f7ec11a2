"""Every pytest outcome is recorded exactly as pytest itself reports it."""

from __future__ import annotations

import pytest

from .conftest import by_nodeid, latest

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


def test_every_outcome_matches_pytest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES_SUITE)
    result = pytester.runpytest("--testreport")
    # pytest counts the pass before a teardown error as passed too
    result.assert_outcomes(passed=2, failed=3, errors=3, skipped=4, xfailed=3, xpassed=1)
    session = latest(pytester)
    tests = by_nodeid(session)
    assert {nodeid.split("::")[1]: (t["outcome"], t["reason"]) for nodeid, t in tests.items()} == (
        EXPECTED
    )
    assert session["tests_count"] == 14
    assert session["failed_count"] == 3
    assert session["error_count"] == 2
    assert session["skipped_count"] == 7  # skips plus xfails
    assert session["status"] == "error"
    assert session["error_message"] == "3 failed, 2 errors"


def test_failure_details(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES_SUITE)
    pytester.runpytest("--testreport")
    tests = by_nodeid(latest(pytester))
    fail = tests["test_outcomes.py::test_fail"]
    assert fail["failure"]["phase"] == "call"
    assert "assert (1 + 1) == 3" in fail["failure"]["message"]
    assert any("def test_fail" in line for line in fail["failure"]["traceback"])
    setup = tests["test_outcomes.py::test_setup_error"]["failure"]
    assert (setup["phase"], setup["message"]) == ("setup", "RuntimeError: setup exploded")
    teardown = tests["test_outcomes.py::test_teardown_error_after_pass"]["failure"]
    assert (teardown["phase"], teardown["message"]) == (
        "teardown",
        "RuntimeError: teardown exploded",
    )
    both = tests["test_outcomes.py::test_fail_and_teardown_error"]["failure"]
    assert both["phase"] == "call"
    assert "call failed" in both["message"] and "teardown exploded" in both["message"]
    strict = tests["test_outcomes.py::test_strict_xpass"]["failure"]
    assert "XPASS(strict)" in strict["message"]
    assert tests["test_outcomes.py::test_pass"]["failure"] is None


def test_location_timings_and_identity(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ident="""
        import pytest, time

        class TestOuter:
            class TestInner:
                @pytest.mark.parametrize("user", ["admin", "guest"])
                def test_login(self, user):
                    time.sleep(0.01)
        """
    )
    pytester.runpytest("--testreport")
    tests = by_nodeid(latest(pytester))
    test = tests["test_ident.py::TestOuter::TestInner::test_login[admin]"]
    assert test["name"] == "test_login[admin]"
    assert test["path"] == "test_ident.py"
    # pytest locates a decorated function at its first decorator; we add one to make it 1-based
    assert test["line"] == 5
    assert test["location"] == "test_ident.py:5"
    assert test["duration"] >= 0.01
    assert test["started_at"].endswith("Z") and test["finished_at"] >= test["started_at"]
    assert test["attempt"] == 1 and test["final"] is True and test["worker"] is None


def test_captured_output_kept_for_failures_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_out="""
        import logging, sys
        def test_ok():
            print("quiet pass")
        def test_bad():
            print("loud stdout")
            sys.stderr.write("loud stderr")
            logging.getLogger("x").warning("loud log")
            assert False
        """
    )
    pytester.runpytest("--testreport")
    session = latest(pytester)
    store = pytester.path / ".testreport" / "results.sqlite"
    import sqlite3

    rows = dict(sqlite3.connect(store).execute("SELECT name, stdout || stderr || log FROM results"))
    assert rows["test_ok"] == ""
    assert "loud stdout" in rows["test_bad"] and "loud stderr" in rows["test_bad"]
    assert "loud log" in rows["test_bad"]
    assert session["tests_count"] == 2


def test_subtest_failure_fails_parent(pytester: pytest.Pytester) -> None:
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
    pytester.runpytest("--testreport")
    session = latest(pytester)
    tests = by_nodeid(session)
    parent = tests["test_sub.py::test_with_subtests"]
    assert parent["outcome"] == "failed"
    assert "i=1" in parent["failure"]["message"]
    assert tests["test_sub.py::test_subtests_ok"]["outcome"] == "passed"
    assert (session["tests_count"], session["failed_count"]) == (2, 1)


@pytest.mark.parametrize("extra_args", [[], ["--continue-on-collection-errors"]])
def test_collection_errors_are_error_results(pytester: pytest.Pytester, extra_args) -> None:
    pytester.makepyfile(
        test_import_error="import module_that_does_not_exist\n\ndef test_x(): pass\n",
        test_syntax_error="def test_y(:\n    pass\n",
        test_fine="def test_ok(): pass\n",
    )
    result = pytester.runpytest("--testreport", *extra_args)
    assert result.ret != 0
    session = latest(pytester)
    tests = by_nodeid(session)
    for path, text in [
        ("test_import_error.py", "module_that_does_not_exist"),
        ("test_syntax_error.py", "SyntaxError"),
    ]:
        record = tests[path]
        assert (record["outcome"], record["kind"], record["name"]) == (
            "error",
            "collection_error",
            path,
        )
        assert text in "\n".join(record["failure"]["traceback"])
    assert session["error_count"] == 2
    assert session["status"] == "error"
    if extra_args:
        assert tests["test_fine.py::test_ok"]["outcome"] == "passed"


def test_reruns_record_every_attempt(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(
        test_flaky="""
        import pytest
        calls = {"flaky": 0, "setup": 0}

        @pytest.fixture
        def flaky_setup():
            calls["setup"] += 1
            if calls["setup"] < 2:
                raise RuntimeError("setup flake")

        def test_flaky():
            calls["flaky"] += 1
            assert calls["flaky"] >= 3

        def test_flaky_setup(flaky_setup):
            pass

        def test_always_fails():
            assert False
        """
    )
    result = pytester.runpytest("--testreport", "--reruns", "2")
    assert result.parseoutcomes() == {"passed": 2, "failed": 1, "rerun": 5}
    session = latest(pytester)
    attempts = [(t["name"], t["attempt"], t["outcome"], t["final"]) for t in session["tests"]]
    assert attempts == [
        ("test_flaky", 1, "failed", False),
        ("test_flaky", 2, "failed", False),
        ("test_flaky", 3, "passed", True),
        ("test_flaky_setup", 1, "error", False),
        ("test_flaky_setup", 2, "passed", True),
        ("test_always_fails", 1, "failed", False),
        ("test_always_fails", 2, "failed", False),
        ("test_always_fails", 3, "failed", True),
    ]
    assert (session["tests_count"], session["failed_count"], session["error_count"]) == (3, 1, 0)


def test_keyboard_interrupt_closes_session_as_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ctrlc="""
        def test_before():
            pass
        def test_interrupt():
            raise KeyboardInterrupt
        def test_never_runs():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--testreport")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    session = latest(pytester)
    assert session["status"] == "error"
    assert session["error_message"].startswith("interrupted: KeyboardInterrupt")
    assert session["finished_at"] is not None
    nodeids = set(by_nodeid(session))
    assert "test_ctrlc.py::test_before" in nodeids
    assert "test_ctrlc.py::test_never_runs" not in nodeids


@pytest.mark.parametrize("stop_args", [["-x"], ["--maxfail=1"]])
def test_stop_early_closes_session_with_reason(pytester: pytest.Pytester, stop_args) -> None:
    pytester.makepyfile(
        test_stop="""
        def test_a(): assert False
        def test_b(): pass
        """
    )
    result = pytester.runpytest("--testreport", *stop_args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    session = latest(pytester)
    assert session["status"] == "error"
    assert "stopped early" in session["error_message"]
    assert set(by_nodeid(session)) == {"test_stop.py::test_a"}


def test_internal_error_closes_session(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_runtest_logfinish(nodeid):
            raise RuntimeError("plugin bug")
        """
    )
    pytester.makepyfile(test_ie="def test_a(): pass\n")
    result = pytester.runpytest_subprocess("--testreport")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    session = latest(pytester)
    assert session["status"] == "error"
    assert session["error_message"].startswith("internal error")
    assert "plugin bug" in session["error_message"]


def test_unicode_and_very_long_names(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\ndisable_test_id_escaping_and_forfeit_all_rights_to_community_support = true\n"
    )
    pytester.makepyfile(
        test_names="""
        import pytest
        LONG = "x" * 3000

        @pytest.mark.parametrize("word", ["żółć", "日本語", "emoji🙂", pytest.param(LONG, id=LONG)])
        def test_words(word):
            assert word != LONG, "long one fails: " + "ä" * 5000
        """
    )
    pytester.runpytest("--testreport")
    tests = by_nodeid(latest(pytester))
    assert {t["name"] for t in tests.values()} >= {
        "test_words[\u017c\u00f3\u0142\u0107]",
        "test_words[\u65e5\u672c\u8a9e]",
        "test_words[emoji\U0001f642]",
    }
    long_one = tests["test_names.py::test_words[" + "x" * 3000 + "]"]
    assert long_one["outcome"] == "failed"
    assert len(long_one["failure"]["message"]) <= 2000
    assert "truncated" in long_one["failure"]["message"]


def test_huge_traceback_is_bounded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_huge="""
        def test_huge():
            raise AssertionError("\\n".join(f"line {i}" for i in range(5000)))
        """
    )
    result = pytester.runpytest("--testreport")
    result.assert_outcomes(failed=1)
    failure = by_nodeid(latest(pytester))["test_huge.py::test_huge"]["failure"]
    assert len(failure["traceback"]) <= 1000
    assert any("truncated" in line for line in failure["traceback"])
    assert any("line 4999" in line for line in failure["traceback"])  # the tail is kept


def test_nothing_reported_when_only_looking(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_look="def test_a(): pass\n")
    for args in (["--collect-only"], ["--setup-plan"], ["--fixtures"], ["--markers"]):
        pytester.runpytest("--testreport", *args)
        assert not (pytester.path / ".testreport").exists(), args


def test_parameter_ids_with_separators_keep_their_scope(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_sep="""
        import pytest

        class TestBox:
            @pytest.mark.parametrize("v", ["a::b", "c/d"], ids=["a::b", "c/d"])
            def test_v(self, v):
                pass
        """
    )
    pytester.runpytest("--testreport")
    tests = by_nodeid(latest(pytester))
    test = tests["test_sep.py::TestBox::test_v[a::b]"]
    assert (test["name"], test["path"]) == ("test_v[a::b]", "test_sep.py")
    import sqlite3

    store = pytester.path / ".testreport" / "results.sqlite"
    scopes = (
        sqlite3.connect(store)
        .execute("SELECT scopes FROM results WHERE name = 'test_v[a::b]'")
        .fetchone()[0]
    )
    assert scopes == '["test_sep.py", "TestBox"]'
