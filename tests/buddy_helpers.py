"""Suites and checks for the Buddy target's tests (tests/test_buddy_*.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import pytest
from _pytest.junitxml import mangle_test_address

from pytest_testreport.model import Failure, Outcome, ResultKind, TestId, TestResult

from .fakes.buddy import BuddyCase, BuddySession, FakeBuddy
from .junit import junit_outcomes

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

        def test_pass(): print("some output")
        def test_fail(): assert 0, "alpha <failed> & \\x07 \\x1b[31mred\\x1b[0m ]]>"
        def test_error(broken): pass
        def test_teardown_error(bad_teardown): pass

        @pytest.mark.parametrize("n", range(6))
        def test_param(n): assert n != 4

        @pytest.mark.parametrize("v", ["a::b", "c/d.e", "ünï"])
        def test_ids(v): pass

        class TestGroup:
            def test_one(self): pass
            @pytest.mark.skip(reason="later")
            def test_two(self): pass

            class TestInner:
                def test_deep(self): pass
        """,
    "sub/test_beta": """
        import pytest
        from pytest_testreport import step, metadata

        @pytest.mark.xfail(reason="known")
        def test_xfail(): assert 0

        @pytest.mark.xfail(reason="maybe")
        def test_xpass(): pass

        @pytest.mark.xfail(reason="strict", strict=True)
        def test_strict(): pass

        def test_skip_body(): pytest.skip("not today")

        @pytest.mark.testreport_metadata(ticket="PROJ-1")
        @pytest.mark.smoke
        def test_steps():
            with step("outer", keyword="Given"):
                with step("inner"):
                    metadata("k", "v")
            assert 0, "stepped"

        @pytest.mark.parametrize("i", range(10))
        def test_many(i): pass
        """,
    "test_broken_import": "import no_such_module_anywhere\n\ndef test_never(): pass\n",
}
SUITE_TESTS = 32  # cases expected from SUITE (the broken import counts as one)

# junit has no xfailed/xpassed: it reports them as skipped and passed.
JUNIT_STATUS = {"passed": "PASSED", "failed": "FAILED", "error": "ERROR", "skipped": "SKIPPED"}


def write_suite(pytester: pytest.Pytester) -> None:
    for name, source in SUITE.items():
        path = pytester.path / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(__import__("textwrap").dedent(source), encoding="utf-8")


def junit_statuses(path: Path) -> dict[tuple[str, str], str]:
    """(classname, name) -> Buddy status, from pytest's own --junitxml."""
    return {key: JUNIT_STATUS[outcome] for key, outcome in junit_outcomes(path).items()}


def buddy_statuses(session: BuddySession) -> dict[tuple[str, str], str]:
    """The same keys as ``junit_statuses`` (pytest files a collection error without class)."""
    out = {}
    for case in session.cases.values():
        key = (case.classname, case.name)
        if case.name.endswith(".py") and case.classname == case.name[:-3].replace("/", "."):
            key = ("", mangle_test_address(case.test_group_name)[-1])
        out[key] = case.status
    return out


def buddy_counts(session: BuddySession) -> dict[str, int]:
    counts = Counter(case.status for case in session.cases.values())
    return {
        "tests": len(session.cases),
        "failures": counts["FAILED"],
        "errors": counts["ERROR"],
        "skipped": counts["SKIPPED"],
    }


def fragment(case: BuddyCase) -> ET.Element:
    """The case's ``data``, parsed (fails the test when it is not well-formed)."""
    assert case.data is not None, f"{case.name}: no data"
    root = ET.fromstring(case.data)
    assert root.tag == "testcase"
    assert (root.get("classname"), root.get("name")) == (case.classname, case.name)
    return root


def props(root: ET.Element) -> list[tuple[str, str]]:
    return [(p.get("name", ""), p.get("value", "")) for p in root.iter("property")]


def case_writes(fake: FakeBuddy) -> Counter[tuple[str, str, str]]:
    """How many accepted requests carried each case (group, classname, name)."""
    sent: Counter[tuple[str, str, str]] = Counter()
    for rec in fake.case_writes:
        for case in rec.json.get("cases", [rec.json]):
            sent[(case["test_group_name"], case["classname"], case["name"])] += 1
    return sent


def assert_close_last(fake: FakeBuddy) -> None:
    closes = fake.matching("POST", r"/close$", accepted=True)
    assert closes, "the session was never closed"
    writes = [r.received_at for r in fake.case_writes]
    assert not writes or max(writes) <= min(r.received_at for r in closes)


def assert_every_case_once(fake: FakeBuddy, expected: int, *, retried: bool = False) -> None:
    """One session holding ``expected`` cases; each was sent once (or, after a lost answer, re-sent
    as an identical upsert), and nothing was sent after the close."""
    session = fake.session
    assert len(session.cases) == expected
    sent = case_writes(fake)
    assert set(sent) == set(session.cases)
    if not retried:
        assert set(sent.values()) == {1}, [k for k, n in sent.items() if n > 1]
        assert session.upserts == 0
    assert session.status != "IN_PROGRESS"
    assert_close_last(fake)
    for case in session.cases.values():
        fragment(case)


def result(
    nodeid: str,
    outcome: Outcome = Outcome.PASSED,
    *,
    attempt: int = 1,
    final: bool = True,
    message: str = "",
    traceback: Optional[list[str]] = None,
    **fields: Any,
) -> TestResult:
    """A ``TestResult`` as the controller would build it."""
    now = datetime.now(timezone.utc)
    failure = None
    if outcome in (Outcome.FAILED, Outcome.ERROR):
        phase = fields.pop("phase", "call" if outcome is Outcome.FAILED else "setup")
        failure = Failure(message=message or "boom", phase=phase, traceback=traceback or ["E boom"])
    test = TestId.of(nodeid)
    if "line" in fields:
        test = TestId(test.nodeid, test.path, test.name, fields.pop("line"), test.scopes)
    return TestResult(
        test=test,
        outcome=outcome,
        failures=[failure] if failure else [],
        attempt=attempt,
        final=final,
        started_at=now,
        finished_at=now,
        duration=fields.pop("duration", 0.25),
        kind=fields.pop("kind", ResultKind.TEST),
        **fields,
    )


def add_cases(session: BuddySession, cases: list[tuple[str, str, str, str]]) -> None:
    """Put cases (group, classname, name, status) straight into a fake session."""
    for index, (group, classname, name, status) in enumerate(cases):
        gid = session.groups.setdefault(group, f"g{len(session.groups)}")
        data = f'<testcase classname="{classname}" name="{name}">'
        data += f'<failure message="m{index}"/></testcase>'
        session.cases[(group, classname, name)] = BuddyCase(
            f"c{index}", name, classname, group, gid, status, 0.5, data
        )


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)
