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


RUNNER_SUITE = """
    import logging, time, pytest

    @pytest.fixture(scope="module")
    def shared():
        time.sleep(0.05)
        yield
        time.sleep(0.05)

    @pytest.fixture
    def own(shared):
        yield
        raise RuntimeError("cleanup failed")

    def test_one(own):
        logging.getLogger("app").warning("hello %s", "there")
        time.sleep(0.05)
        logging.getLogger("app").error("x" * 20_000)

    def test_two(shared): pass
    """
RUNNER_CONFTEST = """
    import json

    def pytest_runtest_logreport(report):
        extra = getattr(report, "testreport_extra", None) or {}
        with open("extras.jsonl", "a") as out:
            out.write(json.dumps([report.nodeid, report.when, extra.get("fixtures", []),
                                  extra.get("logs", [])]) + "\\n")
    """


@pytest.mark.parametrize("mode", [[], ["-n", "2", "--dist", "loadfile"]], ids=["plain", "n2"])
def test_runner_attaches_fixture_runs_and_log_records(pytester: pytest.Pytester, mode) -> None:
    pytest.importorskip("xdist")
    import json

    pytester.makepyfile(test_runner=RUNNER_SUITE)
    pytester.makeconftest(RUNNER_CONFTEST)
    result = pytester.runpytest_subprocess("--testreport", "-p", "no:cacheprovider", *mode)
    result.assert_outcomes(passed=2, errors=1)
    rows = [json.loads(line) for line in (pytester.path / "extras.jsonl").read_text().splitlines()]
    phases = {(nodeid.split("::")[-1], when): (fx, logs) for nodeid, when, fx, logs in rows}
    summary = {
        key: [(f["name"], f["scope"], f["phase"], f["failure"]) for f in fx]
        for key, (fx, _) in phases.items()
    }
    assert summary == {
        ("test_one", "setup"): [("shared", "module", "setup", None),
                                ("own", "function", "setup", None)],
        ("test_one", "call"): [],
        ("test_one", "teardown"): [("own", "function", "teardown",
                                    "RuntimeError: cleanup failed")],
        ("test_two", "setup"): [],  # the module fixture is cached: nothing ran
        ("test_two", "call"): [],
        ("test_two", "teardown"): [("shared", "module", "teardown", None)],
    }  # fmt: skip
    for fx, _ in phases.values():
        for f in fx:
            assert f["start"] <= f["stop"]
    shared_setup = phases[("test_one", "setup")][0][0]
    shared_teardown = phases[("test_two", "teardown")][0][0]
    assert shared_setup["stop"] - shared_setup["start"] >= 0.04
    assert shared_teardown["stop"] - shared_teardown["start"] >= 0.04
    logs = phases[("test_one", "call")][1]
    assert [(level, message[:11]) for _, level, message in logs] == [
        ("WARNING", "hello there"), ("ERROR", "xxxxxxxxxxx")]  # fmt: skip
    assert logs[1][0] - logs[0][0] >= 0.04 and len(logs[1][2]) <= 10_000
    assert all(not logs for key, (_, logs) in phases.items() if key != ("test_one", "call"))


def test_runner_attaches_nothing_when_reporting_is_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_runner=RUNNER_SUITE)
    pytester.makeconftest(RUNNER_CONFTEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:logging")
    result.assert_outcomes(passed=2, errors=1)
    rows = (pytester.path / "extras.jsonl").read_text().splitlines()
    assert len(rows) == 6 and all(row.endswith(", [], []]") for row in rows)
    # Reporting on, the logging plugin off: fixtures are attached, logs are not, nothing breaks.
    (pytester.path / "extras.jsonl").unlink()
    result = pytester.runpytest_subprocess("--testreport", "-p", "no:cacheprovider",
                                           "-p", "no:logging")  # fmt: skip
    result.assert_outcomes(passed=2, errors=1)
    text = (pytester.path / "extras.jsonl").read_text()
    assert '"shared"' in text and "hello" not in text
