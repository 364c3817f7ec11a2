"""A flaky network, for every target: each result arrives exactly once, during the run or by one
``replay``, and every session or build is closed last (issue 15, "Done when").

The fault mix: 20% 500/503, 5% 429 with ``Retry-After``, 2% connection resets, 30 ms latency.
For BrowserStack the resets of test-run starts happen after the start was processed (a run
exists whose uuid we never learn) and its read API answers the way the real one was seen to
(runs under ``hierarchy``, no ``custom_metadata``). The local store runs beside each remote
target: it must hold every result once as well.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Union

import pytest

from .browserstack_helpers import check_build, cli
from .buildkite_helpers import CI_VARIABLES
from .conftest import by_nodeid, latest
from .fakes import FakeBrowserStack, FakeBuddy, FakeBuildkite
from .fakes.plugin import (
    BROWSERSTACK_ACCESS_KEY,
    BROWSERSTACK_USERNAME,
    BUDDY_PAT,
    BUDDY_TOKEN,
    BUILDKITE_API_TOKEN,
    BUILDKITE_TOKEN,
)

TESTS = 24
SUITE = f"""
import pytest
@pytest.mark.parametrize("i", range({TESTS}))
def test_p(i): assert i % 10 != 7
"""
NODEIDS = {f"test_mix.py::test_p[{i}]" for i in range(TESTS)}
FAILED = sum(i % 10 == 7 for i in range(TESTS))
Fake = Union[FakeBuddy, FakeBrowserStack, FakeBuildkite]


def make_fake(target: str) -> Fake:
    if target == "buddy":
        return FakeBuddy(BUDDY_TOKEN, pat=BUDDY_PAT)
    if target == "buildkite":
        return FakeBuildkite(BUILDKITE_TOKEN, BUILDKITE_API_TOKEN)
    return FakeBrowserStack(BROWSERSTACK_USERNAME, BROWSERSTACK_ACCESS_KEY, runs_shape="hierarchy")


def check_buddy(fake: FakeBuddy) -> None:
    session = fake.session  # one session: a create that failed was not repeated blindly
    assert session.closed, session.status
    assert len(session.cases) == TESTS and session.count("FAILED") == FAILED
    touching = [r for r in fake.accepted if f"/sessions/{session.id}/" in r.path]
    assert touching[-1].path.endswith("/close")  # closed last
    assert not [r for r in fake.requests if r.status == 400], "a write after the close"


def check_buildkite(fake: FakeBuildkite) -> None:
    run = fake.run
    ids = Counter(e.execution_id for e in run.executions)
    assert len(ids) == TESTS and set(ids.values()) == {1}, ids
    assert run.duplicates == 0 and not run.skipped_reasons
    assert sum(e.result == "failed" for e in run.executions) == FAILED


def check_browserstack(fake: FakeBrowserStack) -> None:
    runs = check_build(fake)  # one run per test, each finished, the build finished last
    assert len(runs) == TESTS
    assert sum(r.result == "failed" for r in runs.values()) == FAILED


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist"])
@pytest.mark.parametrize("target", ["buddy", "browserstack", "buildkite"])
def test_every_result_once_and_the_session_closed_last(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: str, workers: int
) -> None:
    with make_fake(target) as fake:
        for name in CI_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        lost = r"/tests/start$" if target == "browserstack" else None
        fake.fault_mix(0.2, 0.05, 0.02, retry_after=1, lost=lost, seed=workers + 7)
        fake.latency(0.03)
        pytester.makepyfile(test_mix=SUITE)
        args = ["-n", "2"] if workers else []
        res = pytester.runpytest_subprocess(
            f"--testreport=local,{target}", "-p", "no:cacheprovider",
            "--testreport-flush-timeout=8", *args,
        )  # fmt: skip
        res.assert_outcomes(passed=TESTS - FAILED, failed=FAILED)
        fake.clear_faults()
        spool = pytester.path / ".testreport" / "spool"
        if list(spool.glob("*.jsonl")):
            monkeypatch.chdir(pytester.path)
            code, out, err = cli("replay")  # one replay, against a healthy service
            assert code == 0, out + err
            assert not list(spool.glob("*.jsonl")) and not list(spool.glob("*.damaged"))
        checks: dict[str, Any] = {"buddy": check_buddy, "buildkite": check_buildkite,
                                  "browserstack": check_browserstack}  # fmt: skip
        checks[target](fake)
        assert not fake.errors, fake.errors
    session = latest(pytester)
    assert set(by_nodeid(session)) == NODEIDS  # by_nodeid fails on a duplicate
    assert session["status"] == "error" and session["failed_count"] == FAILED
