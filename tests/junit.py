"""pytest's own --junitxml, read back: what our results are compared against."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


def junit_outcomes(path: Path, *, unique: bool = False) -> dict[tuple[str, str], str]:
    """(classname, name) -> passed, failed, error or skipped, as junit records each test.

    junit lists a test twice when its call failed and its teardown errored; the later entry
    wins, unless ``unique`` asserts that no test is listed twice.
    """
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        kind = next((k for k in ("error", "failure", "skipped") if k in kinds), "passed")
        key = (case.get("classname", ""), case.get("name", ""))
        assert not unique or key not in outcomes, f"junit lists {key} twice"
        outcomes[key] = "failed" if kind == "failure" else kind
    return outcomes


# Before pytest 9.1 the suite's ``tests`` attribute is wrong when a teardown fails (pytest
# issue #3850): a test whose call passed is counted twice (once passed, once error) although
# it has one <testcase>, and a test whose call failed is counted once although it has two.
# pytest 9.1 fixed it: ``tests`` is the number of <testcase> elements.
TESTS_ATTRIBUTE_RIGHT = tuple(int(p) for p in pytest.__version__.split(".")[:2]) >= (9, 1)


def junit_counts(path: Path) -> dict[str, int]:
    """The suite's counts; ``tests`` as pytest >= 9.1 writes it, on every pytest version."""
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    testcases = sum(1 for _ in suite.iter("testcase"))
    if TESTS_ATTRIBUTE_RIGHT:
        assert counts["tests"] == testcases
    counts["tests"] = testcases
    return counts
