"""The local store's record of a run: identity, timings, output, how a run ends, odd names.

How each pytest outcome is recorded, by every target, is tests/test_outcome_suite.py.
"""

from __future__ import annotations

import pytest

from .conftest import by_nodeid, latest


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
