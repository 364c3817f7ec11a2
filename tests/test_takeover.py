"""The delivery process dies (``kill -9``) mid-run: the pytest process delivers the rest itself."""

from __future__ import annotations

import os
import sys

import pytest

from pytest_testreport.cli import main as cli_main

from . import browserstack_helpers as bs
from . import buildkite_helpers as bk
from .buddy_helpers import assert_every_case_once
from .conftest import by_nodeid, latest
from .fakes import BsRun, FakeBrowserStack, FakeBuddy, FakeBuildkite

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finds the child in /proc")

TESTS = 200
KILLER = 60  # the test that kills the delivery process, partway through the suite

# Finds the delivery process as the child of this pytest process that runs the child module.
KILL_SUITE = f"""
import os, signal, time
import pytest

def delivery_pid():
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{{entry}}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{{entry}}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if ppid == os.getpid() and b"pytest_testreport.engine.child" in command:
            return int(entry)
    raise AssertionError("no delivery process found")

@pytest.mark.parametrize("n", range({TESTS}))
def test_many(n):
    if n == {KILLER}:
        time.sleep(1.0)  # the earlier results reach the targets first
        os.kill(delivery_pid(), signal.SIGKILL)
"""


def use_fakes(monkeypatch: pytest.MonkeyPatch, *fakes: object) -> None:
    bk.use_fake(monkeypatch, *[f for f in fakes if isinstance(f, FakeBuildkite)])
    for fake in fakes:
        if not isinstance(fake, FakeBuildkite):
            for name, value in fake.env().items():  # type: ignore[attr-defined]
                monkeypatch.setenv(name, value)


def test_killing_the_delivery_process_loses_nothing(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    buddy_fake: FakeBuddy,
    buildkite_fake: FakeBuildkite,
    browserstack_fake: FakeBrowserStack,
) -> None:
    use_fakes(monkeypatch, buddy_fake, buildkite_fake, browserstack_fake)
    # The fake allows 1600 requests in 5 minutes: no need to spread 400 over a minute.
    monkeypatch.setenv("TESTREPORT_BROWSERSTACK_RATE_LIMIT", "1600/60")
    pytester.makepyfile(test_kill=KILL_SUITE)
    result = pytester.runpytest_subprocess(
        "--testreport=local,buddy,buildkite,browserstack", "--testreport-flush-timeout=60",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK  # the tests' own status
    result.assert_outcomes(passed=TESTS)
    out = result.stdout.str()
    assert "the delivery process exited unexpectedly (exit code -9)" in out
    # Whatever was spooled is delivered by replay: together, every result exactly once.
    monkeypatch.chdir(pytester.path)
    assert cli_main(["replay"]) == 0, out
    nodeids = {f"test_kill.py::test_many[{n}]" for n in range(TESTS)}

    session = latest(pytester)
    assert set(by_nodeid(session)) == nodeids
    assert (session["status"], session["tests_count"]) == ("successful", TESTS)

    # An identical upsert of a case the dead process may have sent is harmless.
    assert_every_case_once(buddy_fake, TESTS, retried=True)
    assert {bk.nodeid(r) for r in bk.final(buildkite_fake).values()} == nodeids
    runs = check_build_after_kill(browserstack_fake)
    assert {nodeid for nodeid, _ in runs} == nodeids


def check_build_after_kill(fake: FakeBrowserStack) -> dict[tuple[str, int], BsRun]:
    """``check_build``, but a request the kill cut off half-sent is no fault of the plugin."""
    torn = [r for r in fake.requests if r.error == "A JSON request body is required"]
    for request in torn:
        fake.requests.remove(request)
    return bs.check_build(fake)  # one run per test, each finished, build finished last


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_the_pytest_process_keeps_results_until_the_child_confirms_them(
    pytester: pytest.Pytester,
) -> None:
    """The child dies with results handed over but not yet stored: they still reach the store."""
    pytester.makeconftest(
        """
        import os, signal

        def pytest_runtest_call(item):
            if item.name == "test_two":
                controller = item.config.pluginmanager.get_plugin("testreport-controller")
                assert controller.delivery._ready.wait(30)  # dies mid-run, not at start-up
                os.kill(controller.delivery._proc.pid, signal.SIGKILL)
                controller.delivery._proc.wait()
        """
    )
    pytester.makepyfile(
        test_few="def test_one(): pass\ndef test_two(): pass\ndef test_three(): assert 0\n"
    )
    result = pytester.runpytest_subprocess("--testreport", "--testreport-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "testreport local: the delivery process exited unexpectedly (exit code -9); "
            "delivered from the pytest process instead",
            "testreport local: session 1 — 3 tests, 1 failed*",
        ]
    )
    assert "strict" not in result.stdout.str()  # nothing was lost
    session = latest(pytester)
    assert set(by_nodeid(session)) == {f"test_few.py::test_{n}" for n in ("one", "two", "three")}
    assert session["status"] == "error" and session["error_message"] == "1 failed"
    assert os.listdir(pytester.path / ".testreport") == ["results.sqlite"] or not list(
        (pytester.path / ".testreport" / "spool").glob("*.jsonl")
    )
