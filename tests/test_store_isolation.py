"""The local target never breaks the run: bad text, refused rows, its own connection's thread,
and a backlog it is never spooled for; one target's failure at the end never reaches another."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.engine import Engine
from pytest_testreport.engine.spool import find_journals, read_journal
from pytest_testreport.engine.target import Target
from pytest_testreport.model import Session, Step, TestResult
from pytest_testreport.targets.local.target import LocalTarget, connect

from .conftest import by_nodeid, cli_json, latest, store_path
from .helpers_store import T0, make_result

BAD_TEXT_SUITE = """
from pytest_testreport import metadata, step

def test_step():
    with step("open \\ud800 page"):
        pass

def test_metadata():
    metadata("owner \\udfff", "ann \\ud800")
"""
FAILING_TEST = """
def test_message():
    assert False, "bad \\ud800 text"
"""


def _spooled_local(pytester: pytest.Pytester) -> list[TestResult]:
    spool = pytester.path / ".testreport" / "spool"
    journals = [read_journal(path) for path in find_journals(spool, "local")]
    return [r for j in journals for e in j.pending if e.kind == "results" for r in e.results()]


@pytest.mark.parametrize("delivery", ["process", "thread"])
@pytest.mark.parametrize("failing", [False, True], ids=["green", "failing"])
def test_lone_surrogates_never_break_the_run(
    pytester: pytest.Pytester, delivery: str, failing: bool
) -> None:
    """Issue 15 item 3: a lone surrogate in a step, metadata or a failure message."""
    pytester.makepyfile(test_bad_text=BAD_TEXT_SUITE + (FAILING_TEST if failing else ""))
    result = pytester.runpytest_subprocess("--testreport", f"--testreport-delivery={delivery}")
    expected = pytest.ExitCode.TESTS_FAILED if failing else pytest.ExitCode.OK
    assert result.ret == expected
    output = "\n".join(result.outlines + result.errlines)
    assert "Traceback" not in output and "ProgrammingError" not in output
    assert not _spooled_local(pytester)  # nothing needed the spool: every result is stored
    session = latest(pytester)
    tests = by_nodeid(session)
    assert len(tests) == 3 if failing else 2
    assert session["status"] == ("error" if failing else "successful")
    assert tests["test_bad_text.py::test_step"]["steps"][0]["text"] == "open \ufffd page"
    assert tests["test_bad_text.py::test_metadata"]["metadata"] == {"owner \ufffd": "ann \ufffd"}
    if failing:
        assert "bad \ufffd text" in tests["test_bad_text.py::test_message"]["failure"]["message"]


def test_the_local_target_stores_unencodable_text_made_valid(tmp_path: Path) -> None:
    """The target defends itself, whatever cleaned the text before it (or did not)."""
    store = tmp_path / "results.sqlite"
    step = Step(text="a \ud800 step", started_at=T0, failure="boom \udc80")
    bad = make_result(
        "t.py::test_\udcff", "failed", message="x \ud800 y", steps=[step],
        metadata=[("k\ud800", "v\udfff")], tags=["t\ud800"],
    )  # fmt: skip
    pair = make_result("t.py::test_pair", message=None, metadata=[("emoji", "\ud83d\ude00")])
    target = LocalTarget(store)
    session = Session(args=["--path=\udcff"])
    target.open_session(session)
    target.send_batch(session, [bad, pair], {})
    target.close_session(session)
    stored = cli_json("show", "latest", "--store", str(store))
    first, second = stored["tests"]
    assert first["nodeid"] == "t.py::test_\ufffd" and first["failure"]["message"] == "x \ufffd y"
    assert first["steps"][0]["text"] == "a \ufffd step"
    assert first["steps"][0]["failure"] == "boom \ufffd"
    assert first["metadata"] == {"k\ufffd": "v\ufffd"} and first["tags"] == ["t\ufffd"]
    assert second["metadata"] == {"emoji": "\U0001f600"}  # a valid pair is one character


def _run(targets: list[Target], spool: Path, results: list[TestResult]) -> list[Any]:
    engine = Engine(targets, spool)
    session = Session()
    engine.start(session)
    for result in results:
        session.count(result)
        engine.submit(result)
    session.finish()
    return engine.finish(session, 20.0)


def test_a_refused_row_is_spooled_alone_and_the_connection_closed_on_its_thread(
    tmp_path: Path,
) -> None:
    """A row SQLite refuses (a NaN duration breaks NOT NULL) is isolated; its batch's other rows
    are stored, and the close, spooled behind it, still releases the connection where it was
    opened (not from the thread that ends the run)."""
    results = [make_result(f"t.py::test_{i}") for i in range(30)]
    results[7].duration = float("nan")
    target = LocalTarget(tmp_path / "results.sqlite")
    (state,) = _run([target], tmp_path / "spool", results)
    assert not [e for e in state.errors if "thread" in e]
    assert (state.delivered, state.spooled, state.close_spooled) == (29, 1, True)
    assert target._conn is None  # released, by the sender's thread
    (journal,) = (read_journal(p) for p in find_journals(tmp_path / "spool", "local"))
    (spooled,) = [r for e in journal.pending if e.kind == "results" for r in e.results()]
    assert spooled.nodeid == "t.py::test_7"
    conn = connect(tmp_path / "results.sqlite")
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 29
    conn.close()


class _FailsAtTheEnd(Target):
    """Delivers nothing anywhere; raises wherever the end of the run calls it."""

    name = "broken"

    def open_session(self, session: Session) -> None:
        pass

    def send_batch(self, session: Session, results: list[TestResult], progress: Any) -> None:
        pass

    def close_session(self, session: Session) -> None:
        raise RuntimeError("close failed")

    def summary(self, session: Session) -> str:
        raise RuntimeError("summary failed")

    def link(self) -> str:
        raise RuntimeError("link failed")

    def release(self) -> None:
        raise RuntimeError("release failed")


def test_a_target_failing_at_the_end_never_breaks_another_or_the_run(tmp_path: Path) -> None:
    results = [make_result(f"t.py::test_{i}") for i in range(5)]
    local = LocalTarget(tmp_path / "results.sqlite")
    broken, stored = _run([_FailsAtTheEnd(), local], tmp_path / "spool", results)
    assert stored.closed and stored.delivered == 5 and not stored.errors
    assert stored.summary.startswith("session 1 — 5 tests")
    assert any("release failed" in e for e in broken.errors)
    assert local._conn is None


def test_release_from_another_thread_leaves_the_connection_to_its_owner(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "results.sqlite")
    target.open_session(Session())
    raised: list[BaseException] = []

    def release() -> None:
        try:
            target.release()
        except BaseException as exc:
            raised.append(exc)

    other = threading.Thread(target=release)
    other.start()
    other.join()
    assert not raised
    assert target._conn is not None  # untouched: SQLite would refuse to close it there
    target.release()
    assert target._conn is None


class _HeldStore(LocalTarget):
    """A store that falls behind: its first batch waits until the test lets it go."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.go = threading.Event()

    def send_batch(self, session: Session, results: list[TestResult], progress: Any) -> None:
        self.go.wait(60)  # a bound only so that a broken test cannot hang the suite
        super().send_batch(session, results, progress)


def test_a_local_store_that_falls_behind_catches_up_instead_of_spooling(tmp_path: Path) -> None:
    """Issue 15 item 11: more than MAX_BACKLOG results wait for the store; it writes them all
    when it catches up (a service would be spooled for this; a disk is not)."""
    from pytest_testreport.engine.engine import MAX_BACKLOG

    count = MAX_BACKLOG + 2 * LocalTarget.batch_size + 1
    target = _HeldStore(tmp_path / "results.sqlite")
    engine = Engine([target], tmp_path / "spool")
    session = Session()
    engine.start(session)
    for i in range(count):
        result = make_result(f"t.py::test_{i}")
        session.count(result)
        engine.submit(result)
    sender = engine._senders[0]
    while len(sender.pending) > count - LocalTarget.batch_size:  # the first batch is taken
        sender._wake.set()
        threading.Event().wait(0.01)
    target.go.set()
    session.finish()
    (state,) = engine.finish(session, 60.0)
    assert (state.delivered, state.spooled, state.close_spooled) == (count, 0, False)
    assert state.closed and not state.errors
    assert not find_journals(tmp_path / "spool", "local")


@pytest.mark.slow
def test_a_fast_huge_suite_never_spools_the_local_store(pytester: pytest.Pytester) -> None:
    """20,000 sub-millisecond tests (100,000 with TESTREPORT_BIG=1), the local store only:
    nothing spooled, and the run ends with the store's summary line."""
    count = 100_000 if os.environ.get("TESTREPORT_BIG") == "1" else 20_000
    pytester.makepyfile(
        test_many=f"""
        import pytest
        @pytest.mark.parametrize("i", range({count}))
        def test_many(i): pass
        """
    )
    result = pytester.runpytest_subprocess("-q", "--testreport", "--testreport-flush-timeout=120")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"testreport local: session 1 — {count} tests — *"])
    assert "spooled" not in result.stdout.str()
    assert not _spooled_local(pytester)
    session = cli_json("list", "--store", str(store_path(pytester)))[0]
    assert (session["status"], session["tests_count"]) == ("successful", count)
    with sqlite3.connect(store_path(pytester)) as conn:
        assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == count
