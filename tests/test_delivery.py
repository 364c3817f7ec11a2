"""Delivery as users see it: summary lines, spool and replay, strict mode, SIGTERM."""

from __future__ import annotations

import signal
import sys

import pytest

from pytest_testreport.cli import main as cli_main
from pytest_testreport.model import COUNT_FIELDS

from .buildkite_helpers import records, use_fake
from .conftest import by_nodeid, cli_json, latest

SUITE = """
def test_one(): pass
def test_two(): pass
def test_three(): assert False
"""


def _block_store(pytester: pytest.Pytester) -> list[str]:
    """Make the local store unwritable: a file stands where its directory should be."""
    (pytester.path / "blocker").write_text("not a directory")
    return ["--testreport", "--testreport-local-path=blocker/results.sqlite"]


def test_undeliverable_results_are_spooled_and_replayed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_spool=SUITE)
    result = pytester.runpytest_subprocess(*_block_store(pytester))
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # unchanged by the reporting failure
    result.stdout.fnmatch_lines(
        [
            "testreport local: opening the session failed*",
            "testreport local: 3 of 3 results spooled (and the session close) to *spool*local-*",
            "testreport local: deliver them later with: pytest-testreport replay --target local",
        ]
    )
    (pytester.path / "blocker").unlink()
    monkeypatch.chdir(pytester.path)
    monkeypatch.setenv("TESTREPORT_LOCAL_PATH", "blocker/results.sqlite")
    assert cli_main(["replay", "--dry-run"]) == 0
    assert cli_main(["replay", "--target", "local"]) == 0
    store = str(pytester.path / "blocker" / "results.sqlite")
    session = cli_json("show", "latest", "--store", store)
    assert session["status"] == "error" and session["error_message"] == "1 failed"
    assert set(by_nodeid(session)) == {f"test_spool.py::test_{n}" for n in ("one", "two", "three")}
    assert (session["tests_count"], session["failed_count"]) == (3, 1)
    assert not list((pytester.path / ".testreport" / "spool").glob("*.jsonl"))
    assert cli_main(["replay"]) == 0  # nothing left


def test_strict_mode_fails_a_green_run_that_could_not_deliver(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_green="def test_ok(): pass\n")
    assert pytester.runpytest_subprocess(*_block_store(pytester)).ret == pytest.ExitCode.OK
    result = pytester.runpytest_subprocess(*_block_store(pytester), "--testreport-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["testreport: --testreport-strict: exit status set to 1"])


@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_strict_mode_counts_results_lost_with_the_spool(
    pytester: pytest.Pytester, delivery: str
) -> None:
    """Neither the store nor the spool can be written: the loss is counted and strict fails.

    Tests run as root, which ignores permission bits: a file where ``.testreport/`` should be
    makes both unusable for anyone.
    """
    pytester.makepyfile(test_green="def test_a(): pass\ndef test_b(): pass\n")
    (pytester.path / ".testreport").write_text("not a directory")
    args = ["--testreport", f"--testreport-delivery={delivery}"]
    result = pytester.runpytest_subprocess(*args, "--testreport-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "testreport local: 2 of 2 results lost (neither delivered nor spooled)*",
            "testreport: --testreport-strict: exit status set to 1",
        ]
    )
    lenient = pytester.runpytest_subprocess(*args)
    assert lenient.ret == pytest.ExitCode.OK  # without strict, reporting never fails the run
    lenient.stdout.fnmatch_lines(["testreport local: 2 of 2 results lost*"])


def test_strict_mode_leaves_a_delivered_run_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_green="def test_ok(): pass\n")
    result = pytester.runpytest_subprocess("--testreport", "--testreport-strict")
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_closes_the_session_then_dies_of_the_signal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_term="""
        import os, signal
        def test_first(): pass
        def test_cancelled():
            os.kill(os.getpid(), signal.SIGTERM)
        def test_never(): pass
        """
    )
    result = pytester.runpytest_subprocess("--testreport")
    assert result.ret == -signal.SIGTERM  # as it would without the plugin
    session = latest(pytester)
    assert session["status"] == "error"
    assert session["error_message"].startswith("terminated: SIGTERM")
    assert set(by_nodeid(session)) == {"test_term.py::test_first"}


def test_replay_finds_the_spool_dir_named_in_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\ntestreport_spool_dir = custom-spool\n")
    pytester.makepyfile(test_ini="def test_ok(): pass\n")
    pytester.runpytest_subprocess(*_block_store(pytester)).assert_outcomes(passed=1)
    assert list((pytester.path / "custom-spool").glob("local-*.jsonl"))
    (pytester.path / "blocker").unlink()
    (pytester.path / "sub").mkdir()
    monkeypatch.chdir(pytester.path / "sub")  # found from a subdirectory too
    monkeypatch.setenv("TESTREPORT_LOCAL_PATH", str(pytester.path / "blocker" / "results.sqlite"))
    assert cli_main(["replay"]) == 0
    assert not list((pytester.path / "custom-spool").glob("*.jsonl"))


# -- the delivery process ----------------------------------------------------------------------
PROCESS_PROBE = """
import os, sys

def pytest_sessionfinish(session):
    controller = session.config.pluginmanager.get_plugin("testreport-controller")
    proc = controller.delivery._proc
    with open("probe.txt", "w") as f:
        f.write(f"{proc.pid if proc else 0} {os.getpid()} {'requests' in sys.modules}")
"""


def test_the_pytest_process_hands_results_to_a_delivery_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buildkite_fake
) -> None:
    use_fake(monkeypatch, buildkite_fake)
    pytester.makeconftest(PROCESS_PROBE)
    pytester.makepyfile(test_spool=SUITE)
    result = pytester.runpytest_subprocess("--testreport=local,buildkite")
    result.assert_outcomes(passed=2, failed=1)
    child, parent, requests_loaded = (pytester.path / "probe.txt").read_text().split()
    assert int(child) not in (0, int(parent))
    assert requests_loaded == "False"  # the HTTP stack lives in the delivery process only
    session = latest(pytester)
    assert (session["tests_count"], session["failed_count"]) == (3, 1)
    result.stdout.fnmatch_lines(["testreport local: session 1 — 3 tests, 1 failed*"])
    assert len(records(buildkite_fake)) == 3


@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_both_delivery_modes_store_the_same_session(pytester: pytest.Pytester, delivery) -> None:
    pytester.makepyfile(test_spool=SUITE)
    result = pytester.runpytest_subprocess("--testreport", f"--testreport-delivery={delivery}")
    result.assert_outcomes(passed=2, failed=1)
    session = latest(pytester)
    assert set(by_nodeid(session)) == {f"test_spool.py::test_{n}" for n in ("one", "two", "three")}
    assert session["status"] == "error" and session["error_message"] == "1 failed"


def test_an_unknown_delivery_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_spool=SUITE)
    result = pytester.runpytest_subprocess("--testreport", "--testreport-delivery=fork")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*testreport*delivery*process, thread*"])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_pytest_still_gets_its_session_closed(pytester: pytest.Pytester) -> None:
    """SIGKILL leaves no chance to the pytest process; the delivery process closes the session
    with the counts that came with the frames (the child does not count the session again)."""
    pytester.makepyfile(
        test_kill="""
        import os, signal, time
        def test_first(): pass
        def test_second(): assert 0
        def test_killed():
            time.sleep(0.5)  # the feeder hands the first two over meanwhile
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = pytester.runpytest_subprocess("--testreport")
    assert result.ret == -signal.SIGKILL
    session = wait_for_closed(pytester)
    assert session["status"] == "error"
    assert session["error_message"].startswith("interrupted: the pytest process ended")
    assert session["error_message"].endswith(", 1 failed")
    assert [session[name] for name in COUNT_FIELDS] == [2, 1, 1, 0, 0]
    assert set(by_nodeid(session)) == {"test_kill.py::test_first", "test_kill.py::test_second"}


def wait_for_closed(pytester: pytest.Pytester, timeout: float = 20.0) -> dict:
    """The orphaned delivery process closes the session on its own time."""
    import time

    ends = time.monotonic() + timeout
    while True:
        session = latest(pytester)
        if session["status"] != "in_progress" or time.monotonic() > ends:
            return session
        time.sleep(0.1)


def test_a_delivery_process_that_cannot_start_hands_over_to_threads(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import sys
        from pytest_testreport.engine import process

        process.child_command = lambda names: ([sys.executable, "-c", "exit(7)"], None)
        """
    )
    pytester.makepyfile(test_spool=SUITE)
    result = pytester.runpytest_subprocess("--testreport", "--testreport-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "testreport local: the delivery process exited unexpectedly (exit code 7); "
            "delivered from the pytest process instead",
            "testreport local: session 1 — 3 tests, 1 failed*",
        ]
    )
    assert "strict" not in result.stdout.str()  # everything was delivered after all
    assert set(by_nodeid(latest(pytester))) == {
        f"test_spool.py::test_{n}" for n in ("one", "two", "three")
    }


def test_a_report_the_feeder_cannot_read_is_reported_and_the_rest_delivered(
    pytester: pytest.Pytester,
) -> None:
    """Reports are read on the delivery feeder thread: a bug there must show, not vanish."""
    pytester.makeconftest(
        """
        from pytest_testreport import reports

        _add = reports.ResultAssembler.add

        def add(self, report):
            if report.nodeid.endswith("test_two") and report.when == "call":
                raise RuntimeError("cannot read this one")
            return _add(self, report)

        reports.ResultAssembler.add = add
        """
    )
    pytester.makepyfile(test_spool=SUITE)
    result = pytester.runpytest_subprocess("--testreport")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    problem = "internal error reading the report of test_spool.py::test_two: RuntimeError"
    result.stdout.fnmatch_lines([f"testreport local: {problem}: cannot read this one"])
    assert {"test_spool.py::test_one", "test_spool.py::test_three"} <= set(
        by_nodeid(latest(pytester))
    )


def test_results_no_target_accounted_for_count_as_lost() -> None:
    """A sender that stopped early (a bug) cannot make results vanish from the summary."""
    from pytest_testreport.controller import account, summary_lines
    from pytest_testreport.engine import SenderState

    state = SenderState("local", delivered=5, spooled=2, closed=True)
    account(state, handed=10)
    assert (state.lost, state.undelivered) == (3, 5)
    assert "testreport local: 3 of 10 results lost (neither delivered nor spooled)" in (
        summary_lines(state)
    )
    whole = SenderState("local", delivered=10, closed=True)
    account(whole, handed=10)
    assert whole.lost == 0 and not whole.errors


def test_handing_a_report_over_wakes_no_thread() -> None:
    """The test's thread only appends: the feeder takes what is queued on its own clock."""
    from typing import Any, cast

    from pytest_testreport.feeder import Feeder

    feeder = Feeder(cast(Any, None), cast(Any, None))
    reports = [object() for _ in range(1000)]
    for report in reports:
        feeder.put(report)
    assert not feeder._wake.is_set()  # waking the feeder costs the test's thread a GIL hand-off
    assert list(feeder._queue) == reports


def test_the_feeder_hands_a_long_queue_over_in_bounded_frames_in_order() -> None:
    """Many queued entries go in frames of at most CHUNK, reports read in order among results."""
    from typing import Any, cast

    from pytest_testreport.feeder import CHUNK, Feeder
    from pytest_testreport.model import Outcome, TestId, TestResult, utcnow

    def result(nodeid: str) -> TestResult:
        now = utcnow()
        return TestResult(TestId(nodeid, "t.py", nodeid), Outcome.PASSED, now, now)

    feeder = Feeder(cast(Any, None), lambda report: [result(report)])
    feeder.put([result("first")])  # read on the test's thread already
    for n in range(2 * CHUNK + 10):
        feeder.put(f"t.py::test_{n}")
    frames = []
    while feeder._queue:
        frames.append([item.nodeid for item in feeder.take(CHUNK)])
    assert [len(frame) for frame in frames] == [CHUNK, CHUNK, 11]
    assert [n for frame in frames for n in frame] == ["first"] + [
        f"t.py::test_{n}" for n in range(2 * CHUNK + 10)
    ]
