"""Delivery as users see it: summary lines, spool and replay, strict mode, SIGTERM."""

from __future__ import annotations

import signal
import sys

import pytest

from pytest_testreport.cli import main as cli_main

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
