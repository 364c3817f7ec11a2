"""``--testreport-shard=I/N``: each test runs once across the shards, balanced by durations."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_testreport.cli import main as cli_main
from pytest_testreport.durations import DurationsError, parse_durations, read_durations
from pytest_testreport.durations import from_store as durations_from_store
from pytest_testreport.history_options import parse_shard
from pytest_testreport.shard import fallback_seconds, make_plan
from pytest_testreport.targets.local.target import connect

from .helpers_store import make_result, record


# -- the plan ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_plan_covers_every_test_once_whatever_the_order(seed: int) -> None:
    rng = random.Random(seed)
    ids = list({"".join(rng.choices("ab:_[]1", k=rng.randint(1, 8))) for _ in range(60)})
    count = rng.randint(1, 7)
    durations = {i: rng.choice([0.0, 0.5, 1.0, rng.random() * 10]) for i in ids
                 if rng.random() < 0.7}  # fmt: skip
    plan = make_plan(ids, durations, count)
    shuffled = ids[:]
    rng.shuffle(shuffled)
    assert make_plan(shuffled, durations, count) == plan  # the same on every shard
    seen = Counter(nodeid for shard in plan.shards for nodeid in shard)
    assert set(seen) == set(ids) and set(seen.values()) <= {1}
    assert len(plan.shards) == count


def skewed_suite(seed: int = 7) -> dict[str, float]:
    """300 tests: a few long ones named to sort first, the rest short with a long tail."""
    rng = random.Random(seed)
    durations = {f"tests/test_a_slow.py::test_{i:02d}": 20.0 + rng.random() * 10 for i in range(12)}
    for i in range(288):
        durations[f"tests/test_b.py::test_{i:03d}"] = rng.paretovariate(2.0) * 0.2
    return durations


def test_skewed_durations_are_balanced_where_a_split_by_count_is_not() -> None:
    durations = skewed_suite()
    ids, count = sorted(durations), 4
    ideal = sum(durations.values()) / count
    plan = make_plan(ids, durations, count)
    assert max(plan.loads) <= ideal * 1.10
    for index in range(1, count + 1):  # the planned loads are the shards' real sums
        assert sum(durations[n] for n in plan.shard(index)) == pytest.approx(plan.loads[index - 1])
    size = len(ids) // count  # what a split by count gives: contiguous, equal-sized chunks
    by_count = [sum(durations[n] for n in ids[k * size : (k + 1) * size]) for k in range(count)]
    assert max(by_count) > ideal * 1.5


def test_new_tests_are_planned_at_the_median_of_known_ones() -> None:
    durations = {"t::a": 1.0, "t::b": 3.0, "t::c": 8.0}
    ids = ["t::a", "t::b", "t::c", "t::new1", "t::new2"]
    plan = make_plan(ids, durations, 2)
    assert fallback_seconds(durations) == 3.0
    assert plan.known == frozenset(durations)
    # Longest first (new ones at 3.0, ties by node id): c; b, new1, new2; then a beside c.
    assert plan.shards == (frozenset({"t::c", "t::a"}), frozenset({"t::b", "t::new1", "t::new2"}))
    assert plan.loads == (9.0, 9.0)
    no_history = make_plan([f"t::{i}" for i in range(10)], {}, 3)
    assert sorted(len(s) for s in no_history.shards) == [3, 3, 4]  # by count


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "2/0", "-1/2", ""])
def test_bad_shard_values(text: str) -> None:
    with pytest.raises(ValueError, match="I/N"):
        parse_shard(text)


def test_shard_values() -> None:
    assert parse_shard("2/4") == (2, 4) and parse_shard(" 1/1 ") == (1, 1)


# -- durations --------------------------------------------------------------------------------
def test_durations_file_shapes() -> None:
    assert parse_durations({"a::t": 1, "b::t": 0.5}, "f") == {"a::t": 1.0, "b::t": 0.5}
    assert parse_durations([["a::t", 2.5], ["b::t", 0]], "f") == {"a::t": 2.5, "b::t": 0.0}
    for bad, match in (
        ("nope", "expected a JSON object"),
        ([["a::t"]], "pairs"),
        ({"a::t": "1"}, "must be a number"),
        ({"a::t": -1}, ">= 0"),
        ({"a::t": True}, "must be a number"),
        ({"": 1}, "non-empty"),
    ):
        with pytest.raises(DurationsError, match=match):
            parse_durations(bad, "f")


def test_read_durations_errors(tmp_path: Path) -> None:
    with pytest.raises(DurationsError, match="cannot read"):
        read_durations(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DurationsError, match="is not JSON"):
        read_durations(tmp_path / "bad.json")


def test_store_durations_median_branch_first_then_any_branch(tmp_path: Path) -> None:
    store = tmp_path / "results.sqlite"
    t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
    runs = [  # (branch, duration of t::a, of t::b, outcome of t::a)
        ("main", 1.0, 5.0, "passed"),
        ("main", 2.0, 5.0, "passed"),
        ("main", 9.0, 5.0, "failed"),  # failed attempts do not count
        ("main", 3.0, 5.0, "passed"),
        ("feature", 7.0, 6.0, "passed"),
    ]
    for i, (branch, a, b, outcome) in enumerate(runs):
        results = [make_result("t::a", outcome, duration=a), make_result("t::b", duration=b)]
        if branch == "main":
            results.append(make_result("t::only_main", duration=4.0))
        record(store, results, branch=branch, started=t0 + timedelta(minutes=i))
    conn = connect(store)
    try:
        assert durations_from_store(conn, "feature", 10) == {"t::a": 7.0, "t::b": 6.0,
                                                             "t::only_main": 4.0}  # fmt: skip
        assert durations_from_store(conn, "main", 2)["t::a"] == 2.5  # last 2 passes: 3 and 2
        assert durations_from_store(conn, None, 10)["t::a"] == 2.5  # 1, 2, 3, 7
    finally:
        conn.close()


# -- runs -------------------------------------------------------------------------------------
CONFTEST = """
import os
def pytest_runtest_call(item):
    with open(os.environ["RAN_LOG"], "a") as f:
        f.write(item.nodeid + "\\n")
"""


def write_suite(pytester: pytest.Pytester) -> list[str]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_one="""
        import pytest
        @pytest.mark.parametrize("n", range(12))
        def test_p(n): pass
        """,
        test_two="""
        import os
        class TestC:
            def test_x(self): assert "x" not in os.environ.get("FAIL_THESE", "")
            def test_y(self): assert "y" not in os.environ.get("FAIL_THESE", "")
        def test_z(): assert "z" not in os.environ.get("FAIL_THESE", "")
        """,
    )
    two = ["test_two.py::TestC::test_x", "test_two.py::TestC::test_y", "test_two.py::test_z"]
    return [f"test_one.py::test_p[{n}]" for n in range(12)] + two


def run_shards(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, count: int,
               *args: str) -> tuple[Counter[str], list[pytest.RunResult]]:  # fmt: skip
    """Run every shard; how often each test ran, and each shard's result."""
    log = pytester.path / "ran.log"
    log.unlink(missing_ok=True)
    monkeypatch.setenv("RAN_LOG", str(log))
    results = [
        pytester.runpytest_subprocess(
            f"--testreport-shard={i}/{count}", "-p", "no:cacheprovider", *args
        )
        for i in range(1, count + 1)
    ]
    ran = log.read_text().splitlines() if log.exists() else []
    return Counter(ran), results


@pytest.mark.parametrize("xdist", [False, True], ids=["plain", "n2"])
def test_shards_run_every_test_once(pytester: pytest.Pytester, monkeypatch, xdist: bool) -> None:
    ids = write_suite(pytester)
    durations = {nodeid: 0.1 for nodeid in ids}
    durations.update({"test_one.py::test_p[0]": 6.0, "test_two.py::test_z": 5.0})
    del durations["test_two.py::TestC::test_y"]  # a new test: no history
    (pytester.path / "durations.json").write_text(json.dumps(durations))
    extra = ["-n", "2"] if xdist else []
    ran, results = run_shards(pytester, monkeypatch, 3, "--testreport-durations=durations.json",
                              *extra)  # fmt: skip
    assert ran == Counter(ids)
    assert [r.ret for r in results] == [0, 0, 0]
    for index, result in enumerate(results, 1):
        result.stdout.fnmatch_lines([f"testreport: shard {index}/3: * tests, planned * s "
                                     "(history for *)"])  # fmt: skip
        if not xdist:
            result.stdout.fnmatch_lines(["* deselected*"])  # deselected, never skipped
            assert "skipped" not in result.stdout.lines[-1]
    # The two long tests go to shards 1 and 2; the short ones (and the new one) fill shard 3.
    assert "shard 1/3: 1 tests, planned 6.0 s (history for 1)" in results[0].stdout.str()
    assert "shard 2/3: 1 tests, planned 5.0 s (history for 1)" in results[1].stdout.str()
    assert "shard 3/3: 13 tests, planned 1.3 s (history for 12)" in results[2].stdout.str()


def test_failed_from_first_then_shard(pytester: pytest.Pytester, monkeypatch) -> None:
    ids = write_suite(pytester)
    monkeypatch.setenv("TESTREPORT_BRANCH", "main")
    monkeypatch.setenv("RAN_LOG", str(pytester.path / "first.log"))
    monkeypatch.setenv("FAIL_THESE", "x,y,z")
    pytester.runpytest_subprocess("--testreport").assert_outcomes(passed=12, failed=3)
    ran, results = run_shards(pytester, monkeypatch, 2, "--testreport-failed-from=local")
    assert ran == Counter(ids[12:])  # the 3 that failed, each once, split over 2 shards
    counts = [r.parseoutcomes().get("failed", 0) for r in results]
    assert sorted(counts) == [1, 2]


def test_store_durations_plan_the_shards(pytester: pytest.Pytester, monkeypatch) -> None:
    ids = write_suite(pytester)
    monkeypatch.setenv("RAN_LOG", str(pytester.path / "first.log"))
    pytester.runpytest_subprocess("--testreport").assert_outcomes(passed=15)
    ran, results = run_shards(pytester, monkeypatch, 2)
    assert ran == Counter(ids)
    results[0].stdout.fnmatch_lines(["*shard 1/2: * tests, planned * s (history for *)"])
    assert "history for 0" not in results[0].stdout.str()
    # The CLI writes what the store plans with: the file gives the same split.
    monkeypatch.chdir(pytester.path)
    assert cli_main(["durations", "-o", "d.json"]) == 0
    assert set(json.loads((pytester.path / "d.json").read_text())) == set(ids)
    ran_file, file_results = run_shards(pytester, monkeypatch, 2, "--testreport-durations=d.json")
    assert ran_file == Counter(ids)
    for from_store, from_file in zip(results, file_results):
        assert _ran_line(from_store) == _ran_line(from_file)


def _ran_line(result: pytest.RunResult) -> str:
    return next(line for line in result.stdout.lines if "tests, planned" in line).split(":", 2)[2]


def test_bad_values_are_usage_errors(pytester: pytest.Pytester) -> None:
    write_suite(pytester)
    result = pytester.runpytest("--testreport-shard=5/4")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "invalid value '5/4' for --testreport-shard" in "\n".join(result.errlines)
    (pytester.path / "d.json").write_text('{"a::b": "slow"}')
    result = pytester.runpytest("--testreport-shard=1/2", "--testreport-durations=d.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "seconds must be a number" in "\n".join(result.errlines)


def test_durations_verb_without_a_store(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["durations"]) == 1
    assert "no store found" in capsys.readouterr().err
