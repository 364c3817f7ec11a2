"""The store as the read side sees it: migrations, killed runs, rerun selection, discovery."""

from __future__ import annotations

import json
import re
import sqlite3
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.cli import main
from pytest_testreport.model import ResultKind
from pytest_testreport.reading import NotFound, count_flips
from pytest_testreport.targets.local.reader import LocalReader, StoreNotFound, find_store
from pytest_testreport.targets.local.target import SCHEMA_VERSION, StoreError, connect

from .helpers_store import T0, make_result, record, run, run_json, write_flips, write_timings

# -- schema versions --------------------------------------------------------------------------


def _v1_store(path: Path) -> None:
    """A store as plugin versions with schema 1 wrote it, filled with plain SQL."""
    conn = connect(path, create=True, target_version=1)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.execute(
        "INSERT INTO sessions (uuid, started_at, finished_at, status, error_message, branch,"
        " revision, ci, tests_count, passed_count, failed_count, skipped_count, error_count)"
        " VALUES ('old-1', '2023-01-02T03:04:05Z', '2023-01-02T03:04:15.250000Z', 'error',"
        " '1 failed', 'main', 'cafebabe00', ?, 2, 1, 1, 0, 0)",
        (json.dumps({"provider": "gitlab", "run_url": "https://gl/1", "branch": "main"}),),
    )
    for uuid, nodeid, outcome, message in (
        ("r1", "tests/test_old.py::test_pass", "passed", None),
        ("r2", "tests/test_old.py::test_fail", "failed", "assert False"),
    ):
        conn.execute(
            "INSERT INTO results (session_id, uuid, nodeid, path, line, name, kind, outcome,"
            " failure_message, failure_phase, failure_traceback, duration, started_at,"
            " finished_at, attempt, final) VALUES (1, ?, ?, 'tests/test_old.py', 7, ?, 'test', ?,"
            " ?, ?, ?, 1.5, '2023-01-02T03:04:06Z', '2023-01-02T03:04:07.500000Z', 1, 1)",
            (
                uuid,
                nodeid,
                nodeid.split("::")[1],
                outcome,
                message,
                "call" if message else None,
                "line a\nline b" if message else None,
            ),
        )
    conn.execute(
        "INSERT INTO steps (result_id, position, uuid, text, started_at, finished_at, result)"
        " VALUES (1, 0, 's1', 'login', '2023-01-02T03:04:06Z', '2023-01-02T03:04:06.5Z', 'passed')"
    )
    conn.execute(
        "INSERT INTO metadata (result_id, position, key, value) VALUES"
        " (1, 0, 'env', 'staging'), (1, 1, 'env', 'prod')"
    )
    conn.close()


def test_v1_store_is_migrated_and_keeps_its_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.sqlite"
    _v1_store(path)
    with sqlite3.connect(str(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
        assert not raw.execute("SELECT name FROM sqlite_master WHERE name = 'tags'").fetchall()
    raw.close()
    with LocalReader(path) as reader:
        session = reader.get_session("1", None)
    with sqlite3.connect(str(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'tags'").fetchall()
        assert raw.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 2
    raw.close()
    tests = session.pop("tests")
    assert session == {
        "id": 1,
        "uuid": "old-1",
        "status": "error",
        "error_message": "1 failed",
        "branch": "main",
        "revision": "cafebabe00",
        "started_at": "2023-01-02T03:04:05Z",
        "finished_at": "2023-01-02T03:04:15.250000Z",
        "duration": 10.25,
        "tests_count": 2,
        "passed_count": 1,
        "failed_count": 1,
        "skipped_count": 0,
        "error_count": 0,
        "ci_provider": "gitlab",
        "run_url": "https://gl/1",
    }
    passed, failed = tests
    assert passed["metadata"] == {"env": ["staging", "prod"]}
    assert passed["tags"] == []
    assert [(s["text"], s["duration"]) for s in passed["steps"]] == [("login", 0.5)]
    assert (passed["location"], passed["failure"], passed["duration"]) == (
        "tests/test_old.py:7",
        None,
        1.5,
    )
    assert failed["failure"] == {
        "message": "assert False",
        "phase": "call",
        "traceback": ["line a", "line b"],
    }
    assert main(["failed", "latest", "--store", str(path), "--json"]) == 0
    assert [t["nodeid"] for t in json.loads(capsys.readouterr().out)] == [
        "tests/test_old.py::test_fail"
    ]
    # New results can be written to the migrated store and read next to the old ones.
    record(path, [make_result("tests/test_new.py::test_x", tags=["slow"])])
    assert main(["show", "latest", "--store", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tests"][0]["tags"] == ["slow"]


def test_store_from_a_newer_plugin_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "future.sqlite"
    record(path, [make_result("t.py::a")])
    with sqlite3.connect(str(path)) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer than this plugin knows"):
        LocalReader(path)
    assert main(["list", "--store", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"pytest-testreport: the store has schema version {SCHEMA_VERSION + 1}")


def test_reader_never_creates_a_store(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "missing.sqlite"
    with pytest.raises(StoreError):
        LocalReader(path)
    assert not path.exists() and not path.parent.exists()


# -- killed runs ------------------------------------------------------------------------------


def test_results_of_a_session_never_closed_are_readable(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    killed = record(
        path,
        [make_result(f"t.py::test_{i}", "failed" if i == 3 else "passed") for i in range(5)],
        close=False,
        batch=2,  # three transactions, as the engine would send them
    )
    with LocalReader(path) as reader:
        session = reader.get_session("latest", None)
        assert session["uuid"] == killed.uuid
        assert session["status"] == "in_progress"
        assert (session["finished_at"], session["duration"]) == (None, None)
        assert (session["tests_count"], session["passed_count"], session["failed_count"]) == (
            5,
            4,
            1,
        )
        assert [t["nodeid"] for t in session["tests"]] == [f"t.py::test_{i}" for i in range(5)]
        assert [t["nodeid"] for t in reader.failed("latest", None)] == ["t.py::test_3"]
        # A killed run is no basis for a rerun: nothing closed yet.
        assert reader.failed_for_rerun(None) == (None, [])


# -- rerun selection --------------------------------------------------------------------------


def test_failed_for_rerun_picks_the_latest_closed_session(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    main_run = record(
        path,
        [
            make_result("t.py::flaky", "failed", final=False),
            make_result("t.py::flaky", attempt=2),  # passed in the end: not rerun
            make_result("t.py::stays", "failed", final=False),
            make_result("t.py::stays", "error", attempt=2, phase="setup"),
            make_result("t.py::ok"),
            make_result("t.py::skip", "skipped"),
            make_result("broken.py", "error", kind=ResultKind.COLLECTION_ERROR, line=None),
        ],
        branch="main",
    )
    feature = record(path, [make_result("t.py::feat", "failed")], branch="feature")
    current = record(path, [make_result("t.py::now", "failed")], branch="main", close=False)
    with LocalReader(path) as reader:
        assert reader.failed_for_rerun(None) == (feature.id, ["t.py::feat"])
        assert reader.failed_for_rerun("main") == (main_run.id, ["t.py::stays", "broken.py"])
        assert reader.failed_for_rerun("feature") == (feature.id, ["t.py::feat"])
        assert reader.failed_for_rerun("gone") == (None, [])
        assert reader.failed_for_rerun(None, exclude_uuid=feature.uuid) == (
            main_run.id,
            ["t.py::stays", "broken.py"],
        )
        assert reader.failed_for_rerun("feature", exclude_uuid=feature.uuid) == (None, [])
        # The running session is skipped whether or not it is excluded by uuid.
        assert reader.failed_for_rerun("main", exclude_uuid=current.uuid)[0] == main_run.id


def test_failed_for_rerun_on_a_clean_session(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    clean = record(path, [make_result("t.py::a"), make_result("t.py::b", "xfailed")])
    with LocalReader(path) as reader:
        assert reader.failed_for_rerun(None) == (clean.id, [])


def test_unknown_session_raises_not_found(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    connect(path, create=True).close()
    with LocalReader(path) as reader:
        with pytest.raises(NotFound, match=rf"^no session 'latest' in {re.escape(str(path))}$"):
            reader.get_session("latest", None)
        with pytest.raises(NotFound, match="no session 'abc' on branch 'x'"):
            reader.failed("abc", "x")
        assert reader.flaky(10, 0, None) == [] and reader.slow(5, 10, None) == []


# -- discovery --------------------------------------------------------------------------------


def test_find_store_order(tmp_path: Path) -> None:
    walked = tmp_path / "repo" / ".testreport" / "results.sqlite"
    from_env = tmp_path / "env.sqlite"
    flagged = tmp_path / "flag.sqlite"
    for path in (walked, from_env, flagged):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    deep = tmp_path / "repo" / "src" / "pkg"
    deep.mkdir(parents=True)
    env = {"TESTREPORT_LOCAL_PATH": str(from_env)}
    assert find_store(deep, str(flagged), env) == flagged
    assert find_store(deep, None, env) == from_env
    assert find_store(deep, None, {}) == walked
    assert find_store(deep, None, {"TESTREPORT_LOCAL_PATH": " "}) == walked
    # A relative --store is relative to the current directory.
    assert find_store(tmp_path, "flag.sqlite", {}) == tmp_path / "flag.sqlite"
    # A relative TESTREPORT_LOCAL_PATH is found above us, where the rootdir is.
    relative = {"TESTREPORT_LOCAL_PATH": ".testreport/results.sqlite"}
    assert find_store(deep, None, relative) == walked


def test_find_store_says_where_it_looked(tmp_path: Path) -> None:
    if any((d / ".testreport" / "results.sqlite").exists() for d in tmp_path.parents):
        pytest.skip("a store exists above the temporary directory")
    with pytest.raises(StoreNotFound) as caught:
        find_store(tmp_path, None, {})
    message = str(caught.value)
    assert f"in {tmp_path} and its parents" in message and "pytest --testreport" in message
    assert isinstance(caught.value, StoreError)
    with pytest.raises(StoreNotFound, match="TESTREPORT_LOCAL_PATH"):
        find_store(tmp_path, None, {"TESTREPORT_LOCAL_PATH": str(tmp_path / "x.sqlite")})
    with pytest.raises(StoreNotFound, match=r"no store at .*flag\.sqlite"):
        find_store(tmp_path, "flag.sqlite", {})


# -- history queries --------------------------------------------------------------------------


def test_count_flips() -> None:
    assert count_flips([]) == 0
    assert count_flips(["passed", "skipped", "xfailed", "passed"]) == 0
    assert count_flips(["passed", "failed", "error", "xpassed", "skipped", "failed"]) == 3


@pytest.fixture
def big_store(tmp_path: Path) -> Path:
    path = tmp_path / "big.sqlite"
    for session in range(3):
        record(
            path,
            [
                make_result(f"tests/test_m{i // 100}.py::test_case_{i}", duration=i / 1000)
                for i in range(4000)
            ]
            + [make_result("tests/t.py::flip", "failed" if session % 2 else "passed")],
            started=T0 + timedelta(hours=session),
            batch=1000,
        )
    return path


def test_flaky_and_slow_stream_instead_of_loading_every_result(big_store: Path) -> None:
    with LocalReader(big_store) as reader:
        tracemalloc.start()
        try:
            flaky = reader.flaky(10, 1, None)
            slow = reader.slow(3, 10, None)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert core(flaky, FLAKY_KEYS) == [
        {
            "nodeid": "tests/t.py::flip",
            "flips": 2,
            "sessions": 3,
            "outcomes": ["passed", "failed", "passed"],
        }
    ]
    assert [(s["nodeid"], s["median_duration"], s["runs"]) for s in slow] == [
        ("tests/test_m39.py::test_case_3999", 3.999, 3),
        ("tests/test_m39.py::test_case_3998", 3.998, 3),
        ("tests/test_m39.py::test_case_3997", 3.997, 3),
    ]
    # 12 000 rows held at once take several megabytes; streaming them takes a few kilobytes.
    assert peak < 1_000_000, peak


def test_queries_use_the_indexes(big_store: Path) -> None:
    executed: list[str] = []
    with LocalReader(big_store) as reader:
        reader._conn.set_trace_callback(executed.append)
        reader.flaky(10, 1, "main")
        reader.slow(5, 10, None)
        reader.get_session("latest", "main")
        reader.failed("2", None)
        reader.failed_for_rerun("main", exclude_uuid="x")
        reader.list_sessions("main", 2, 5)
        reader._conn.set_trace_callback(None)
        selects = [sql for sql in executed if sql.lstrip().upper().startswith("SELECT")]
        assert len(selects) >= 10
        for sql in selects:
            plan = " / ".join(r[3] for r in reader._conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            for table in ("results", "steps", "metadata", "tags"):
                assert f"SCAN {table}" not in plan, (sql, plan)


# -- flaky and slow through the CLI -----------------------------------------------------------


@pytest.fixture
def flips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "flips.sqlite"
    monkeypatch.setenv("TESTREPORT_LOCAL_PATH", str(path))
    write_flips(path)
    return path


FLAKY_KEYS = ("nodeid", "flips", "sessions", "outcomes")
SLOW_KEYS = ("nodeid", "median_duration", "runs", "max_duration")


def core(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows cut to the keys every target gives (the local store adds evidence and trends)."""
    return [{k: row[k] for k in keys} for row in rows]


def test_flaky_json(flips: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = run_json(capsys, "flaky", "--branch", "main", "--last", "7", "--min-flips", "1")
    # The evidence: where each test flipped, and the sessions where a rerun passed.
    assert [(f["flip_sessions"], f["rerun_passes"], f["session_ids"]) for f in found] == [
        ([2, 3, 5, 6], 0, [1, 2, 3, 5, 6]),
        ([7], 1, [7]),
        ([6], 0, [1, 2, 3, 4, 5, 6]),
    ]
    assert core(found, FLAKY_KEYS) == [
        {
            "nodeid": "t.py::one",
            "flips": 4,
            "sessions": 5,  # the skipped run contributes nothing
            "outcomes": ["passed", "failed", "passed", "error", "xpassed"],
        },
        {"nodeid": "t.py::rerun", "flips": 1, "sessions": 1, "outcomes": ["failed", "passed"]},
        {
            "nodeid": "t.py::three",
            "flips": 1,
            "sessions": 6,
            "outcomes": ["failed", "failed", "error", "failed", "failed", "passed"],
        },
    ]
    assert [f["nodeid"] for f in run_json(capsys, "flaky", "--branch", "main")] == ["t.py::one"]
    # Across all branches, the dev history of "three" comes after the main sessions.
    everything = run_json(capsys, "flaky", "--last", "20")
    assert [(f["nodeid"], f["flips"]) for f in everything] == [("t.py::three", 5), ("t.py::one", 4)]
    # Only the last 2 main sessions: the newest ran only "rerun", so the others have one outcome.
    last_two = run_json(capsys, "flaky", "--branch", "main", "--last", "2", "--min-flips", "0")
    assert core(last_two, FLAKY_KEYS) == [
        {"nodeid": "t.py::rerun", "flips": 1, "sessions": 1, "outcomes": ["failed", "passed"]},
        {"nodeid": "t.py::one", "flips": 0, "sessions": 1, "outcomes": ["xpassed"]},
        {"nodeid": "t.py::three", "flips": 0, "sessions": 1, "outcomes": ["passed"]},
        {"nodeid": "t.py::two", "flips": 0, "sessions": 1, "outcomes": ["passed"]},
    ]


def test_flaky_human(flips: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "flaky", "--branch", "main", "--last", "7", "--min-flips", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "tests with at least 1 flip in the last 7 sessions on branch main"
    assert lines[3].split() == ["FLIPS", "SESSIONS", "HISTORY", "FLIPPED", "IN", "TEST"]
    assert [line.split() for line in lines[4:]] == [
        ["4", "5", "PFPEX", "2,3,5,6", "t.py::one"],
        ["1", "1", "FP", "7", "t.py::rerun"],
        ["1", "6", "FFEFFP", "6", "t.py::three"],
    ]
    assert run(capsys, "flaky", "--min-flips", "9") == (
        0,
        "no flaky tests in the last 10 sessions (at least 9 flips)\n",
        "",
    )


@pytest.fixture
def timings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / ".testreport" / "results.sqlite"
    monkeypatch.chdir(tmp_path)
    write_timings(path)
    return path


def test_slow_json(timings: Path, capsys: pytest.CaptureFixture[str]) -> None:
    top = run_json(capsys, "slow", "--top", "3")
    # The trend: final durations oldest first, and the latest against the earlier median.
    assert [(s["trend"], s["trend_sessions"], s["latest_duration"], s["change"]) for s in top] == [
        ([1.0, 5.0, 3.0], [1, 2, 3], 3.0, 0.0),
        ([2.0, 3.0], [2, 3], 3.0, 0.5),
        ([2.0, 2.0, 10.0], [1, 2, 3], 10.0, 4.0),
    ]
    assert core(top, SLOW_KEYS) == [
        {"nodeid": "t.py::slow", "median_duration": 3.0, "runs": 3, "max_duration": 5.0},
        {"nodeid": "t.py::even", "median_duration": 2.5, "runs": 2, "max_duration": 3.0},
        {"nodeid": "t.py::mid", "median_duration": 2.0, "runs": 3, "max_duration": 10.0},
    ]
    last = run_json(capsys, "slow", "--last", "1", "--top", "2")
    assert [s["change"] for s in last] == [None, None]  # one run: nothing to compare with
    assert core(last, SLOW_KEYS) == [
        {"nodeid": "t.py::mid", "median_duration": 10.0, "runs": 1, "max_duration": 10.0},
        {"nodeid": "t.py::even", "median_duration": 3.0, "runs": 1, "max_duration": 3.0},
    ]
    rerun = [s for s in run_json(capsys, "slow", "--top", "50") if s["nodeid"] == "t.py::rerun"]
    assert core(rerun, SLOW_KEYS) == [
        {"nodeid": "t.py::rerun", "median_duration": 0.2, "runs": 3, "max_duration": 0.2}
    ]


def test_slow_human(timings: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "slow", "--top", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "slowest tests by median duration over the last 10 sessions"
    assert [line.split() for line in lines[2:]] == [
        ["MEDIAN", "MAX", "RUNS", "TREND", "LATEST", "TEST"],
        ["3.00s", "5.00s", "3", "▁█▅", "+0%", "t.py::slow"],
        ["2.50s", "3.00s", "2", "▁█", "+50%", "t.py::even"],
    ]
    empty = run(capsys, "slow", "--branch", "nope")
    assert empty == (0, "no test results in the last 10 sessions on branch nope\n", "")
