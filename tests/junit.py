"""pytest's own --junitxml, read back: what our results are compared against."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


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


def junit_counts(path: Path) -> dict[str, int]:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
