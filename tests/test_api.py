"""The author-facing API: steps, metadata, markers, the fixture and our hooks."""

from __future__ import annotations

import pytest

from .conftest import by_nodeid, latest


def test_steps_nest_and_failures_propagate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_steps="""
        import pytest
        from pytest_testreport import step

        @step("add numbers", keyword="When")
        def add(a, b):
            return a + b

        def test_ok():
            with step("the user logs in", keyword="Given"):
                with step("types the password"):
                    pass
            assert add(1, 2) == 3

        def test_step_raises():
            with step("outer"):
                with step("explodes", keyword="Then"):
                    raise ValueError("bad value 42")

        @pytest.fixture
        def prepared():
            with step("prepare in fixture"):
                pass
            yield
            with step("clean up in fixture"):
                pass

        def test_fixture_steps(prepared):
            pass
        """
    )
    result = pytester.runpytest("--testreport")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*ValueError: bad value 42*"])  # propagated unchanged
    tests = by_nodeid(latest(pytester))
    given, typed, added = tests["test_steps.py::test_ok"]["steps"]
    assert (given["keyword"], given["text"], given["parent_id"]) == (
        "Given",
        "the user logs in",
        None,
    )
    assert (typed["text"], typed["parent_id"], typed["result"]) == (
        "types the password",
        given["id"],
        "passed",
    )
    assert (added["keyword"], added["text"], added["parent_id"]) == ("When", "add numbers", None)
    assert added["duration"] >= 0
    outer, inner = tests["test_steps.py::test_step_raises"]["steps"]
    assert (outer["result"], inner["result"]) == ("failed", "failed")
    assert inner["failure"] == "ValueError: bad value 42"
    assert inner["parent_id"] == outer["id"]
    texts = [s["text"] for s in tests["test_steps.py::test_fixture_steps"]["steps"]]
    assert texts == ["prepare in fixture", "clean up in fixture"]


def test_metadata_markers_and_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    smoke: quick checks\n    slowish: slower\n")
    pytester.makepyfile(
        test_meta="""
        import pytest
        from pytest_testreport import metadata

        pytestmark = pytest.mark.smoke

        @pytest.mark.testreport_metadata(ticket="PROJ-12", owner="qa")
        @pytest.mark.slowish
        @pytest.mark.parametrize("x", [1])
        def test_meta(x, testreport):
            metadata("browser", "firefox")
            testreport.metadata("browser", "chrome")

        @pytest.mark.skip(reason="no")
        def test_skipped():
            metadata("never", "recorded")
        """
    )
    pytester.runpytest("--testreport")
    tests = by_nodeid(latest(pytester))
    meta = tests["test_meta.py::test_meta[1]"]
    assert meta["metadata"] == {
        "ticket": "PROJ-12",
        "owner": "qa",
        "browser": ["firefox", "chrome"],
    }
    assert meta["tags"] == ["slowish", "smoke"]
    assert tests["test_meta.py::test_skipped"]["metadata"] == {}


def test_calls_outside_a_test_warn_and_do_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        from pytest_testreport import step, metadata
        metadata("at", "import")
        with step("at import"):
            pass

        def test_a():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--testreport")
    result.assert_outcomes(passed=1, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*TestReportWarning: testreport: metadata() called outside a running test; ignored",
            "*TestReportWarning: testreport: step() called outside a running test; ignored",
        ]
    )
    test = by_nodeid(latest(pytester))["test_plain.py::test_a"]
    assert test["metadata"] == {} and test["steps"] == []


def test_api_works_without_reporting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_off="""
        from pytest_testreport import step, metadata
        def test_a(testreport):
            with step("s"):
                metadata("k", "v")
            testreport.metadata("k", "w")
        """
    )
    result = pytester.runpytest("-W", "error::UserWarning")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".testreport").exists()


def test_hooks_shape_results_and_session(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_testreport_session(session):
            session.ci.branch = "from-hook"

        def pytest_testreport_result(result):
            result.metadata.append(("team", "payments"))
        """
    )
    pytester.makepyfile(test_h="def test_a(): pass\n")
    pytester.runpytest("--testreport")
    session = latest(pytester)
    assert session["branch"] == "from-hook"
    assert by_nodeid(session)["test_h.py::test_a"]["metadata"] == {"team": "payments"}
