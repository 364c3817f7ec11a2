"""One delivery interface: both kinds are a ``Delivery``, the controller reads reports itself
(feeder.py) and counts each result once, and the engine never sees a pytest report."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_testreport.engine.delivery import Delivery
from pytest_testreport.engine.inprocess import Engine
from pytest_testreport.engine.process import COUNTS, DeliveryProcess, apply_counts, counts
from pytest_testreport.feeder import Feeder, ReportReader
from pytest_testreport.model import Outcome, Session, TestId, TestResult, TestStart, utcnow
from pytest_testreport.reports import ResultAssembler

from .conftest import by_nodeid, latest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_testreport"


def test_both_kinds_are_a_delivery(tmp_path: Path) -> None:
    assert isinstance(Engine([], tmp_path), Delivery)
    assert isinstance(DeliveryProcess(cast(Any, None), []), Delivery)


# -- the shape of the code ---------------------------------------------------------------------
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_the_controller_never_names_a_delivery_kind() -> None:
    tree = _tree(PACKAGE / "controller.py")
    kinds = {"Engine", "DeliveryProcess", "Delivery", "Takeover"}
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & kinds
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            attrs = {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
            assert not (names | attrs) & kinds, ast.unparse(node)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative ones as written (``..reports``)."""
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            if not node.module:  # ``from .. import reports``
                found.update(base + alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "engine").glob("*.py")), ids=lambda p: p.name)
def test_the_engine_imports_nothing_that_reads_pytest_reports(path: Path) -> None:
    for module in _imports(path):
        top = module.lstrip(".").split(".")[0]
        assert top not in ("pytest", "_pytest"), module
        assert not (module.startswith("..") and top in ("reports", "feeder", "controller")), module


# -- the feeder --------------------------------------------------------------------------------
class Recording:
    """A ``Delivery`` that keeps what it is given."""

    wants_starts = True

    def __init__(self) -> None:
        self.started: list[Session] = []
        self.frames: list[list[Any]] = []

    def start(self, session: Session) -> None:
        self.started.append(session)

    def submit_items(self, items: Iterable[Any]) -> None:
        self.frames.append(list(items))

    def finish(self, session: Session, timeout: float) -> list[Any]:
        return []


class Report:
    """The fields of a pytest ``TestReport`` the assembler reads."""

    def __init__(self, nodeid: str, when: str, outcome: str, rerun: Any = None) -> None:
        self.nodeid, self.when, self.outcome = nodeid, when, outcome
        self.location = ("t.py", 1, nodeid)
        self.duration, self.sections, self.longrepr = 0.01, [], None
        self.longreprtext = ""
        self.rerun = rerun
        self.failed = outcome == "failed"


def _phases(nodeid: str, call: str, rerun: Any = None) -> list[Report]:
    phases = (("setup", "passed"), ("call", call), ("teardown", "passed"))
    return [Report(nodeid, when, outcome, rerun) for when, outcome in phases]


def test_the_feeder_reads_counts_once_and_hands_only_model_objects_over() -> None:
    """Reruns count once (the final attempt); starts are not results; hook results too."""
    delivery = Recording()
    read = ReportReader(ResultAssembler(), live_starts=True, on_result=lambda result: None)
    feeder = Feeder(cast(Delivery, delivery), read)
    session = Session()
    feeder.start(session)
    for report in [
        *_phases("t.py::test_flaky", "rerun", rerun=0),
        *_phases("t.py::test_flaky", "passed", rerun=1),
        *_phases("t.py::test_bad", "failed"),
    ]:
        feeder.put(report)
    feeder.put(read(_phases("t.py::test_here", "passed")[-1]))  # read on the test's thread
    feeder.drain(10)
    assert delivery.started == [session]
    items = [item for frame in delivery.frames for item in frame]
    assert all(isinstance(item, (TestResult, TestStart)) for item in items)
    results = [item for item in items if isinstance(item, TestResult)]
    assert [(r.nodeid, r.final) for r in results] == [
        ("t.py::test_flaky", False),
        ("t.py::test_flaky", True),
        ("t.py::test_bad", True),
        ("t.py::test_here", True),
    ]
    assert sum(isinstance(item, TestStart) for item in items) == 3  # one per setup read here
    assert feeder.handed == 4
    assert counts(session) == {
        "tests_count": 3, "passed_count": 2, "failed_count": 1,
        "skipped_count": 0, "error_count": 0,
    }  # fmt: skip
    assert feeder.error is None


def test_a_delivery_that_fails_does_not_stop_the_counting() -> None:
    class Failing(Recording):
        def submit_items(self, items: Iterable[Any]) -> None:
            if list(items):
                raise RuntimeError("broken")

    read = ReportReader(ResultAssembler(), live_starts=False, on_result=lambda result: None)
    feeder = Feeder(cast(Delivery, Failing()), read)
    session = Session()
    feeder.start(session)
    for nodeid in ("t.py::test_a", "t.py::test_b"):
        for report in _phases(nodeid, "passed"):
            feeder.put(report)
    feeder.drain(10)
    assert (session.tests_count, feeder.handed) == (2, 2)  # so the summary says what was lost
    assert feeder.error == "internal error handing results over: RuntimeError: broken"


def test_counts_travel_to_the_delivery_process_as_computed() -> None:
    now = utcnow()
    session = Session()
    session.count(TestResult(TestId("t.py::a", "t.py", "a"), Outcome.FAILED, now, now))
    session.count(TestResult(TestId("t.py::b", "t.py", "b"), Outcome.XFAILED, now, now))
    orphan = Session()
    apply_counts(orphan, counts(session))
    assert [getattr(orphan, name) for name in COUNTS] == [2, 0, 1, 1, 0]


# -- whole runs --------------------------------------------------------------------------------
SUITE = """
import pytest

def test_pass(): pass
def test_fail(): assert 0
def test_skip(): pytest.skip("no")

@pytest.fixture
def broken():
    raise RuntimeError("setup")

def test_error(broken): pass

@pytest.mark.xfail
def test_xfail(): assert 0

@pytest.mark.parametrize("n", range(3))
def test_param(n): pass
"""

HOOK = """
import threading

def pytest_testreport_result(result):
    # A user's hook runs on the test's thread, whichever way delivery runs.
    assert threading.current_thread() is threading.main_thread()
    result.metadata.append(("hooked", "yes"))
"""


def _rows(session: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((t["nodeid"], t["outcome"], t["attempt"], t["final"]) for t in session["tests"])


@pytest.mark.parametrize("hook", [False, True], ids=["feeder-reads", "test-thread-reads"])
def test_both_delivery_kinds_deliver_the_same_results(
    pytester: pytest.Pytester, hook: bool
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    if hook:
        pytester.makeconftest(HOOK)
    sessions = []
    for delivery in ("process", "thread"):
        result = pytester.runpytest_subprocess("--testreport", f"--testreport-delivery={delivery}")
        result.assert_outcomes(passed=4, failed=1, skipped=1, errors=1, xfailed=1)
        result.stdout.fnmatch_lines(
            ["testreport local: session * — 8 tests, 1 failed, 1 error, 2 skipped*"]
        )
        sessions.append(latest(pytester))
    process, thread = sessions
    assert process["uuid"] != thread["uuid"]
    assert _rows(process) == _rows(thread) and len(_rows(process)) == 8
    for name in COUNTS:
        assert process[name] == thread[name], name
    assert (process["tests_count"], process["skipped_count"]) == (8, 2)
    if hook:
        for session in sessions:
            assert all(test["metadata"] == {"hooked": "yes"} for test in session["tests"])


@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_reruns_are_counted_once_in_either_delivery(pytester: pytest.Pytester, delivery) -> None:
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(
        test_flaky="""
        import itertools
        calls = itertools.count()
        def test_flaky(): assert next(calls) >= 1
        def test_broken(): assert 0
        def test_fine(): pass
        """
    )
    result = pytester.runpytest_subprocess(
        "--testreport", f"--testreport-delivery={delivery}", "--reruns", "1"
    )
    result.stdout.fnmatch_lines(["testreport local: session 1 — 3 tests, 1 failed —*"])
    session = latest(pytester)
    assert (session["tests_count"], session["passed_count"], session["failed_count"]) == (3, 2, 1)
    assert len(session["tests"]) == 5  # every attempt delivered, each test counted once
    assert set(by_nodeid(session)) == {
        f"test_flaky.py::test_{n}" for n in ("flaky", "broken", "fine")
    }


@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_xdist_runs_are_counted_once_in_either_delivery(
    pytester: pytest.Pytester, delivery
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "--testreport", f"--testreport-delivery={delivery}", "-n", "2"
    )
    result.assert_outcomes(passed=4, failed=1, skipped=1, errors=1, xfailed=1)
    session = latest(pytester)
    assert [session[name] for name in COUNTS] == [8, 4, 1, 2, 1]
    assert len(session["tests"]) == 8
