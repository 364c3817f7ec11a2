"""``pytest-testreport merge``: CI shards' stores into one, read as logical runs."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.targets.local.target import LocalTarget

from .helpers_store import T0, make_result, record, run, run_json


def shard(path: Path, runs: list[tuple[str, dict[str, str]]], offset: int) -> list[Any]:
    """One shard's store: a session per (CI run id, outcomes), an hour apart."""
    return [
        record(
            path,
            [make_result(n, o) for n, o in outcomes.items()],
            provider="github",
            run_id=run_id,
            started=T0 + timedelta(hours=i, minutes=offset),
        )
        for i, (run_id, outcomes) in enumerate(runs)
    ]


@pytest.fixture
def shards(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a" / "results.sqlite", tmp_path / "b" / "results.sqlite"
    shard(a, [("100", {"a.py::t1": "passed", "a.py::t2": "failed"}),
              ("101", {"a.py::t1": "failed", "a.py::t2": "passed"})], 0)  # fmt: skip
    shard(b, [("100", {"b.py::t3": "passed", "b.py::t4": "error"}),
              ("101", {"b.py::t3": "passed", "b.py::t4": "passed"})], 1)  # fmt: skip
    # A developer's run without a CI run id stays a run of its own.
    record(b, [make_result("b.py::t3")], started=T0 + timedelta(hours=3))
    return a, b


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_shard_stores_merge_into_one_that_list_show_failed_and_flaky_read(
    shards: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = shards
    out = str(tmp_path / "merged.sqlite")
    before = digest(a), digest(b)
    merged = run_json(capsys, "merge", str(a), str(b.parent), "-o", out)
    assert [(m["added"], m["present"]) for m in merged] == [(2, 0), (3, 0)]
    rows = run_json(capsys, "list", "--store", out)
    assert [(r["run"], r["sessions"], r["tests_count"]) for r in rows] == [
        (None, [5], 1), ("run:101", [3, 4], 4), ("run:100", [1, 2], 4)]  # fmt: skip
    joined = rows[2]
    assert (joined["status"], joined["failed_count"], joined["error_count"]) == ("error", 1, 1)
    assert joined["started_at"] == "2024-05-01T10:00:00Z"
    assert joined["duration"] == 60 + 12.5  # the second shard started a minute later
    shown = run_json(capsys, "show", "run:100", "--store", out)
    assert sorted((t["nodeid"], t["outcome"], t["session_id"]) for t in shown["tests"]) == [
        ("a.py::t1", "passed", 1), ("a.py::t2", "failed", 1),
        ("b.py::t3", "passed", 2), ("b.py::t4", "error", 2)]  # fmt: skip
    failed = run_json(capsys, "failed", "run:100", "--store", out)
    assert [t["nodeid"] for t in failed] == ["a.py::t2", "b.py::t4"]
    flaky = run_json(capsys, "flaky", "--min-flips", "1", "--store", out)
    assert [(f["nodeid"], f["flips"]) for f in flaky] == [
        ("a.py::t1", 1), ("a.py::t2", 1), ("b.py::t4", 1)]  # fmt: skip
    code, text, _ = run(capsys, "list", "--store", out)
    assert code == 0 and "run:101" in text and "run:100" in text
    code, text, _ = run(capsys, "failed", "run:100", "--store", out)
    assert code == 0 and text.startswith("1 failed, 1 error in run run:100")
    code, text, _ = run(capsys, "show", "run:100", "--store", out)
    assert "  sessions  1, 2" in text
    assert (digest(a), digest(b)) == before


def test_merging_twice_changes_nothing(
    shards: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = shards
    out = str(tmp_path / "merged.sqlite")
    run_json(capsys, "merge", str(a), str(b), "-o", out)
    first = (
        run_json(capsys, "list", "--store", out),
        run_json(capsys, "show", "run:101", "--store", out),
    )
    again = run_json(capsys, "merge", str(b), str(a), "-o", out)
    assert [(m["added"], m["present"]) for m in again] == [(0, 3), (0, 2)]
    assert (run_json(capsys, "list", "--store", out),
            run_json(capsys, "show", "run:101", "--store", out)) == first  # fmt: skip


def test_a_session_caught_running_is_replaced_by_its_closed_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "s.sqlite", str(tmp_path / "m.sqlite")
    open_run = record(source, [make_result("t.py::a")], close=False, run_id="9")
    run_json(capsys, "merge", str(source), "-o", out)
    assert run_json(capsys, "show", "latest", "--store", out)["status"] == "in_progress"
    target = LocalTarget(source)  # the shard finishes after the first merge
    target.resume({"session_id": open_run.id}, open_run.session)
    target.send_batch(open_run.session, [make_result("t.py::b", "failed")], {})
    open_run.session.count(make_result("t.py::b", "failed"))
    open_run.session.finish()
    target.close_session(open_run.session)
    assert run_json(capsys, "merge", str(source), "-o", out)[0]["added"] == 1
    shown = run_json(capsys, "show", "latest", "--store", out)
    assert (shown["status"], shown["tests_count"], len(shown["tests"])) == ("error", 2, 2)
    assert len(run_json(capsys, "list", "--store", out)) == 1


def test_bad_sources_are_one_line_errors_and_the_output_is_untouched(
    shards: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = shards
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    out = tmp_path / "m.sqlite"
    for sources, why in (([str(a), str(junk)], "junk.sqlite"),
                         ([str(a), str(tmp_path / "nope.sqlite")], "no store at"),
                         ([str(a), str(out)], "is the output store")):  # fmt: skip
        code, _, err = run(capsys, "merge", *sources, "-o", str(out))
        assert code == 1 and why in err and "Traceback" not in err, err
        assert not out.exists() or run_json(capsys, "list", "--store", str(out)) == []


def test_html_of_a_logical_run_reports_all_its_shards(
    shards: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "m.sqlite")
    run_json(capsys, "merge", *map(str, shards), "-o", out)
    code, _, err = run(capsys, "html", "run:100", "--store", out, "-o", str(tmp_path / "r.html"))
    assert (code, err) == (0, "")  # tests/test_html_runs.py checks what the page holds
    assert "<h1>Run 100</h1>" in (tmp_path / "r.html").read_text(encoding="utf-8")
