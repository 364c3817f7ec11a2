"""Under xdist the controller owns one session and records every test exactly once."""

from __future__ import annotations

from collections import Counter

import pytest
from _pytest.junitxml import mangle_test_address

from .conftest import by_nodeid, cli_json, latest, store_path
from .junit import junit_counts, junit_outcomes

pytest.importorskip("xdist")

SUITE = {
    "test_alpha": """
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("no database")

        @pytest.fixture
        def bad_teardown():
            yield
            raise RuntimeError("cleanup failed")

        def test_pass(): pass
        def test_fail(): assert 0, "alpha failed"
        def test_error(broken): pass
        def test_teardown_error(bad_teardown): pass

        @pytest.mark.parametrize("n", range(6))
        def test_param(n): assert n != 4

        class TestGroup:
            def test_one(self): pass
            @pytest.mark.skip(reason="later")
            def test_two(self): pass
        """,
    "test_beta": """
        import pytest

        @pytest.mark.xfail(reason="known")
        def test_xfail(): assert 0

        @pytest.mark.xfail(reason="maybe")
        def test_xpass(): pass

        @pytest.mark.xfail(reason="strict", strict=True)
        def test_strict(): pass

        def test_skip_body(): pytest.skip("not today")

        @pytest.mark.parametrize("i", range(10))
        def test_many(i): pass
        """,
    "test_broken_import": "import no_such_module_anywhere\n\ndef test_never(): pass\n",
}

# junit has no xfailed/xpassed: it reports them as skipped and passed.
_AS_JUNIT = {"xfailed": "skipped", "xpassed": "passed"}


def our_outcomes(session: dict) -> dict[tuple[str, str], str]:
    outcomes = {}
    for test in by_nodeid(session).values():
        names = mangle_test_address(test["nodeid"])
        key = (".".join(names[:-1]), names[-1])
        outcomes[key] = _AS_JUNIT.get(test["outcome"], test["outcome"])
    return outcomes


@pytest.mark.parametrize(
    "mode",
    [
        [],
        ["-n", "2"],
        ["--tx", "2*popen"],  # xdist runs these in-process: still one session
        ["--tx", "2*popen", "--dist", "load"],
        ["-n", "2", "--dist", "loadscope"],
        ["-n", "2", "--dist", "loadfile"],
        ["-n", "2", "--dist", "worksteal"],
    ],
    ids=["plain", "n2", "tx2popen", "tx2popen-load", "loadscope", "loadfile", "worksteal"],
)
def test_same_results_as_junitxml(pytester: pytest.Pytester, mode: list[str]) -> None:
    pytester.makepyfile(**SUITE)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--testreport", f"--junitxml={junit}", "--continue-on-collection-errors", *mode
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    sessions = cli_json("list", "--store", str(store_path(pytester)))
    assert len(sessions) == 1  # one session, whatever the number of workers
    session = latest(pytester)
    assert our_outcomes(session) == junit_outcomes(junit, unique=True)
    counts = Counter(_AS_JUNIT.get(t["outcome"], t["outcome"]) for t in session["tests"])
    junit_count = junit_counts(junit)
    assert session["tests_count"] == junit_count["tests"]
    assert counts["failed"] == junit_count["failures"] == session["failed_count"]
    assert counts["error"] == junit_count["errors"] == session["error_count"]
    assert counts["skipped"] == junit_count["skipped"]
    if "-n" in mode or "--dist" in mode:
        assert {t["worker"] for t in session["tests"] if t["kind"] == "test"} <= {"gw0", "gw1"}


def test_steps_and_metadata_reach_the_controller(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_steps="""
        import pytest
        from pytest_testreport import step, metadata

        @pytest.mark.testreport_metadata(ticket="PROJ-12")
        @pytest.mark.smoke
        @pytest.mark.parametrize("i", range(4))
        def test_steps(i, testreport):
            with step("outer", keyword="Given"):
                with testreport.step("inner"):
                    metadata("i", i)
        """
    )
    result = pytester.runpytest_subprocess("--testreport", "-n", "2")
    result.assert_outcomes(passed=4)
    tests = by_nodeid(latest(pytester))
    assert len(tests) == 4
    for i in range(4):
        test = tests[f"test_steps.py::test_steps[{i}]"]
        assert test["metadata"] == {"ticket": "PROJ-12", "i": str(i)}
        assert test["tags"] == ["smoke"]
        outer, inner = test["steps"]
        assert (outer["keyword"], outer["text"], outer["parent_id"]) == ("Given", "outer", None)
        assert (inner["text"], inner["parent_id"]) == ("inner", outer["id"])
