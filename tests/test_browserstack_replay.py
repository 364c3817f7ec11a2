"""BrowserStack replay when starts got no answer and the read API answers in its own shape
(issue 15, item 5): runs are found by what their start sent, never started twice."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from .browserstack_helpers import check_build, cli, replay, run, use_fake
from .fakes import FakeBrowserStack
from .fakes.plugin import BROWSERSTACK_ACCESS_KEY, BROWSERSTACK_USERNAME

SIX = """
import pytest
@pytest.mark.parametrize("i", range(6))
def test_p(i): assert i != 4
"""


# -- item 5: BrowserStack test runs whose start got no answer -----------------------------------
@pytest.fixture
def hierarchy_fake() -> Iterator[FakeBrowserStack]:
    """BrowserStack answering test-run lists under ``hierarchy``, without ``custom_metadata``."""
    fake = FakeBrowserStack(BROWSERSTACK_USERNAME, BROWSERSTACK_ACCESS_KEY,
                            runs_shape="hierarchy")  # fmt: skip
    with fake:
        yield fake
    assert not fake.errors, fake.errors


def test_started_runs_whose_answer_was_lost_are_found_and_finished(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, hierarchy_fake: FakeBrowserStack
) -> None:
    fake = hierarchy_fake
    use_fake(monkeypatch, fake)
    fake.lose_next(3, path="/tests/start$")  # three runs made whose uuids we never learn
    pytester.makepyfile(test_l=SIX)
    run(pytester).assert_outcomes(passed=5, failed=1)
    assert len(fake.build.tests) == 6 and fake.build.finished is None
    code, out = replay(pytester)
    assert code == 0, out
    runs = check_build(fake)  # no second run for a test, every run finished, the build last
    assert len(runs) == 6
    assert fake.matching("GET", "/testRuns$")


def test_a_run_lookup_refused_once_is_tried_again(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, hierarchy_fake: FakeBrowserStack
) -> None:
    fake = hierarchy_fake
    use_fake(monkeypatch, fake)
    fake.lose_next(1, path="/tests/start$")
    pytester.makepyfile(test_l=SIX)
    run(pytester).assert_outcomes(passed=5, failed=1)
    fake.fail_next(1, 401, path="/testRuns$")
    code, out = replay(pytester)
    assert code == 0, out
    assert len(check_build(fake)) == 6
    assert [r.status for r in fake.matching("GET", "/testRuns$")][:2] == [401, 200]


def test_the_reader_takes_test_runs_listed_under_hierarchy(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, hierarchy_fake: FakeBrowserStack
) -> None:
    fake = hierarchy_fake
    use_fake(monkeypatch, fake, BROWSERSTACK_PROJECT_NAME="pytest")
    pytester.makepyfile(test_l=SIX)
    run(pytester).assert_outcomes(passed=5, failed=1)
    code, out, err = cli("show", fake.build.id, "--target", "browserstack", "--json")
    assert code == 0, out + err
    tests = json.loads(out)["tests"]
    assert sorted(t["outcome"] for t in tests) == ["failed"] + ["passed"] * 5
    assert {t["nodeid"] for t in tests} == {f"test_l.py::test_p[{i}]" for i in range(6)}


def test_runs_nested_in_groups_are_read_as_runs_and_claimed_once() -> None:
    from pytest_testreport.targets.browserstack.lookup import RunLookup
    from pytest_testreport.targets.browserstack.reader import flat_runs

    def run_(uuid: str, name: str, scopes: list[str]) -> dict:
        return {"uuid": uuid, "name": name, "file_name": "t.py", "scopes": scopes,
                "started_at": "2026-01-01T00:00:00.123000+00:00", "status": "pending"}  # fmt: skip

    tree = [{"name": "t.py", "children": [
        run_("1", "test_a", ["t.py"]),
        {"name": "TestC", "children": [run_("2", "test_a", ["t.py", "TestC"])]},
    ]}]  # fmt: skip
    runs = list(flat_runs(iter(tree)))
    assert [r["uuid"] for r in runs] == ["1", "2"]
    lookup = RunLookup(runs, "testreport.id")
    start = {"name": "test_a", "file_name": "t.py", "scopes": ["t.py", "TestC"],
             "started_at": "2026-01-01T00:00:00.123Z"}  # fmt: skip
    assert lookup.claim("our-id", start)["uuid"] == "2"
    assert lookup.claim("our-id", start) is None  # never the same run twice
    assert lookup.claim("other", {**start, "scopes": ["t.py"]})["uuid"] == "1"
