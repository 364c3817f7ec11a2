"""The HTML report of a logical run: the sessions (shards) that share a CI run id, as one.

``pytest-testreport html run:<id>`` and ``--testreport-html`` at the end of a sharded run;
tests/test_html_browser.py opens such a page in Chromium.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.report.at_end import write_for

from .helpers_store import T0, make_result, record, run, run_json
from .test_html import page_data


def shard(path: Path, run_id: str, tests: dict[str, tuple[str, float]], hour: int,
          minute: int, revision: str = "aaa") -> Any:  # fmt: skip
    """One shard's session of CI run ``run_id``: node id -> (outcome, duration)."""
    results = [make_result(n, o, duration=d, message=f"{n} broke") for n, (o, d) in tests.items()]
    return record(path, results, provider="github", run_id=run_id, revision=revision,
                  started=T0 + timedelta(hours=hour, minutes=minute))  # fmt: skip


@pytest.fixture
def merged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Two CI runs (100, then 101) of two shards each, merged; then a developer's run."""
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    shard(a, "100", {"a.py::t1": ("passed", 1.0), "a.py::t2": ("failed", 2.0)}, 0, 0)
    shard(a, "101", {"a.py::t1": ("failed", 3.0), "a.py::t2": ("passed", 2.5)}, 1, 0)
    shard(b, "100", {"b.py::t3": ("passed", 4.0), "b.py::t4": ("error", 0.5)}, 0, 1)
    shard(b, "101", {"b.py::t3": ("passed", 5.0), "b.py::t4": ("failed", 0.5)}, 1, 1)
    out = tmp_path / "merged.sqlite"
    run_json(capsys, "merge", str(a), str(b), "-o", str(out))
    record(out, [make_result("a.py::t1")], started=T0 + timedelta(hours=3))  # no run id
    return out


def html(capsys: pytest.CaptureFixture[str], store: Path, *args: str) -> dict[str, Any]:
    out = store.parent / "r.html"
    code, _, err = run(capsys, "html", *args, "--store", str(store), "-o", str(out))
    assert code == 0, err
    return page_data(out)


def test_html_of_a_logical_run_counts_lists_and_fails_across_its_shards(
    merged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = html(capsys, merged, "run:101")
    session = data["session"]
    assert (session["run"], session["sessions"], session["status"]) == ("run:101", [3, 4], "error")
    assert session["outcomes"] == {"passed": 2, "failed": 2, "error": 0, "skipped": 0,
                                   "xfailed": 0, "xpassed": 0}  # fmt: skip
    tests = data["tests"]
    shard_of = dict(zip(tests["nodeid"], tests["session"]))
    assert shard_of == {"a.py::t1": 3, "a.py::t2": 3, "b.py::t3": 4, "b.py::t4": 4}
    assert [(f["nodeid"], f["session"]) for f in data["failures"]] == [
        ("a.py::t1", 3), ("b.py::t4", 4)]  # fmt: skip
    assert data["failures"][1]["message"] == "b.py::t4 broke"
    # History: one entry per logical run, the shards' counts summed; the developer's later
    # run is not before run 101, so it is not shown.
    assert [(h["run"], h["sessions"]) for h in data["history"]] == [
        ("run:100", [1, 2]), ("run:101", [3, 4])]  # fmt: skip
    assert [(h["passed"], h["failed"], h["error"]) for h in data["history"]] == [
        (2, 1, 1), (2, 2, 0)]  # fmt: skip
    assert data["history"][0]["duration"] == 60 + 12.5  # first start to last finish
    strips = dict(zip(tests["nodeid"], tests["strip"]))
    assert strips == {"a.py::t1": "pf", "a.py::t2": "fp", "b.py::t3": "pp", "b.py::t4": "ef"}
    slow = {s["nodeid"]: s["trend"] for s in data["slow"]}
    assert [s["nodeid"] for s in data["slow"]][:2] == ["b.py::t3", "a.py::t1"]
    assert slow["b.py::t3"] == [4.0, 5.0] and slow["a.py::t1"] == [1.0, 3.0]


def test_flaky_across_runs_sees_a_test_pass_and_fail_on_one_revision(
    merged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = html(capsys, merged, "run:101")
    rows = {r["nodeid"]: r for r in data["flaky"]["rows"]}
    assert set(rows) == {"a.py::t1", "a.py::t2"}  # b.py::t4 never passed
    assert rows["a.py::t1"]["strip"] == "pf"  # one letter per run


def test_a_rerun_job_of_the_same_run_counts_each_test_once_with_its_newest_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s.sqlite"
    shard(store, "7", {"a.py::t1": ("failed", 1.0), "a.py::t2": ("passed", 1.0)}, 0, 0)
    shard(store, "7", {"b.py::t3": ("passed", 1.0)}, 0, 1)
    shard(store, "7", {"a.py::t1": ("passed", 1.0), "a.py::t2": ("passed", 1.0)}, 0, 5)  # re-run
    data = html(capsys, store, "run:7")
    assert sum(data["session"]["outcomes"].values()) == 3
    assert data["session"]["outcomes"]["failed"] == 0
    assert dict(zip(data["tests"]["nodeid"], data["tests"]["session"])) == {
        "a.py::t1": 3, "a.py::t2": 3, "b.py::t3": 2}  # fmt: skip
    assert data["failures"] == []  # the failure was superseded by the re-run's pass
    assert [h["sessions"] for h in data["history"]] == [[1, 2, 3]]
    assert sorted(s["nodeid"] for s in data["slow"]) == ["a.py::t1", "a.py::t2", "b.py::t3"]


def test_the_report_of_one_session_stays_a_session_report(
    merged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = html(capsys, merged, "4")
    assert data["session"]["id"] == 4 and "run" not in data["session"]
    assert "session" not in data["tests"]
    assert data["tests"]["nodeid"] == ["b.py::t3", "b.py::t4"]
    assert [h["id"] for h in data["history"]] == [1, 2, 3, 4]  # one entry per session
    assert all("run" not in h for h in data["history"])


def test_html_of_a_run_prints_json_and_refuses_an_unknown_run(
    merged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = merged.parent / "run.html"
    printed = run_json(capsys, "html", "run:100", "--store", str(merged), "-o", str(out))
    assert printed == {"session": 2, "run": "run:100", "path": str(out)}
    assert "<h1>Run 100</h1>" in out.read_text(encoding="utf-8")
    code, output, err = run(capsys, "html", "run:999", "--store", str(merged), "-o", str(out))
    assert (code, output) == (1, "") and "no sessions of CI run 'run:999'" in err


def test_at_the_end_of_a_shard_the_report_shows_the_run_when_the_store_has_its_shards(
    tmp_path: Path,
) -> None:
    store = tmp_path / "s.sqlite"
    first = shard(store, "5", {"a.py::t1": ("passed", 1.0)}, 0, 0)
    out = tmp_path / "r.html"
    write_for(store, out, first.uuid)  # its own session only: the store has no other shard
    assert "run" not in page_data(out)["session"]
    second = shard(store, "5", {"b.py::t2": ("failed", 1.0)}, 0, 1)
    alone = record(store, [make_result("c.py::t")], started=T0 + timedelta(hours=1))
    write_for(store, out, second.uuid)
    data = page_data(out)
    assert (data["session"]["run"], data["session"]["sessions"]) == ("run:5", [1, 2])
    write_for(store, out, alone.uuid)  # no CI run id: a session of its own, as before
    assert page_data(out)["session"]["id"] == alone.id and "run" not in page_data(out)["session"]


def test_a_second_shard_against_the_same_store_reports_the_run_at_its_end(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n",
                        test_b="def test_b():\n    assert 0\n")  # fmt: skip
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    args = ["--testreport", "--testreport-html", "-p", "no:cacheprovider"]
    path = pytester.path / ".testreport" / "report.html"
    pytester.runpytest(*args, "test_a.py")  # shard 1: the store has no other shard yet
    assert "run" not in page_data(path)["session"]
    pytester.runpytest(*args, "test_b.py")  # shard 2 of the same CI run
    data = page_data(path)
    assert (data["session"]["run"], data["session"]["sessions"]) == ("run:42", [1, 2])
    assert dict(zip(data["tests"]["nodeid"], data["tests"]["session"])) == {
        "test_a.py::test_a": 1, "test_b.py::test_b": 2}  # fmt: skip
