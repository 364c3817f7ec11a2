"""A damaged store: one clear line during the run (results spooled), ``store check`` and
``store repair`` (the damaged file moved aside, what SQLite can read salvaged), then replay."""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pytest_testreport.model import Step
from pytest_testreport.targets.local.repair import repair

from .conftest import by_nodeid, latest, store_path
from .helpers_store import T0, make_result, record, run

PAGE = 4096  # SQLite's default page size, which the store keeps


def damage_pages(path: Path, pages: list[int]) -> None:
    """Overwrite whole pages (1-based) with noise; the header on page 1 stays valid."""
    data = bytearray(path.read_bytes())
    noise = random.Random(15)
    for page in pages:
        for i in range((page - 1) * PAGE, page * PAGE):
            data[i] = noise.randrange(256)
    path.write_bytes(bytes(data))


def leaf_pages_holding(path: Path, marker: bytes) -> list[int]:
    """Table leaf pages (type 0x0D, not index pages) whose rows contain ``marker``."""
    data = path.read_bytes()
    return [
        page
        for page in range(2, len(data) // PAGE + 1)
        if data[(page - 1) * PAGE] == 0x0D and marker in data[(page - 1) * PAGE : page * PAGE]
    ]


@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_a_damaged_store_is_named_once_spooled_repaired_and_replayed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys, delivery: str
) -> None:
    pytester.makepyfile(test_green="def test_one(): pass\ndef test_two(): pass\n")
    assert pytester.runpytest_subprocess("--testreport").ret == pytest.ExitCode.OK
    store = store_path(pytester)
    damage_pages(store, list(range(2, store.stat().st_size // PAGE + 1)))

    result = pytester.runpytest_subprocess("--testreport", f"--testreport-delivery={delivery}")
    assert result.ret == pytest.ExitCode.OK  # the run's status is the tests' alone
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "ProgrammingError" not in output
    hint = f"run: pytest-testreport store repair --store {store}"
    result.stdout.fnmatch_lines(
        [
            f"testreport local: opening the session failed: the store at {store} is damaged "
            f"(*); {hint}",
            "testreport local: 2 of 2 results spooled (and the session close) to *",
        ]
    )
    monkeypatch.chdir(pytester.path)
    capsys.readouterr()  # the runs' echo
    code, out, err = run(capsys, "store", "check")
    assert code == 1 and not out
    assert err.startswith(f"pytest-testreport: the store at {store} is damaged (")
    assert err.endswith(f"{hint}\n") and err.count("\n") == 1
    code, _, err = run(capsys, "replay", "--target", "local")  # says what to do, keeps the spool
    assert code == 1 and hint in err + _

    code, out, err = run(capsys, "store", "repair", "--store", str(store))
    assert code == 0, err
    (aside,) = store.parent.glob("results.sqlite.damaged-*")
    assert aside.name[len("results.sqlite.damaged-") :].endswith("Z")
    assert f"moved it to {aside}" in out
    assert run(capsys, "store", "check")[0] == 0
    assert run(capsys, "replay", "--target", "local")[0] == 0
    session = latest(pytester)
    assert set(by_nodeid(session)) == {"test_green.py::test_one", "test_green.py::test_two"}
    assert session["status"] == "successful"


def test_repair_salvages_every_row_sqlite_can_still_read(tmp_path: Path) -> None:
    store = tmp_path / "results.sqlite"
    total = 600
    for run_number in range(2):
        results = [
            make_result(
                f"t.py::test_{run_number}_{i:04d}",
                "failed" if i % 7 == 0 else "passed",
                message="x" * 200,
                metadata=[("i", str(i))],
                tags=["smoke"],
                steps=[Step(text=f"step {i}", started_at=T0)],
            )
            for i in range(total // 2)
        ]
        record(store, results, batch=100)
    (page,) = leaf_pages_holding(store, b"t.py::test_1_0150")[:1]
    damage_pages(store, [page])
    with sqlite3.connect(store) as conn, pytest.raises(sqlite3.DatabaseError):
        conn.execute("SELECT * FROM results").fetchall()

    done = repair(store, datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))

    assert done is not None and done.moved_to.name == "results.sqlite.damaged-20260102T030405Z"
    tables = {t.table: t for t in done.tables}
    assert (tables["sessions"].copied, tables["sessions"].lost) == (2, 0)
    results = tables["results"]
    assert 0 < results.lost < 40 and results.copied + results.lost == total
    # Children of a lost result cannot be reached any more: refused, and counted as lost.
    for child in ("steps", "metadata", "tags"):
        assert tables[child].copied == results.copied
        assert tables[child].lost == results.lost
    conn = sqlite3.connect(store)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == results.copied
    assert (
        conn.execute("SELECT count(*) FROM results WHERE nodeid = 't.py::test_1_0150'").fetchone()[
            0
        ]
        == 0
    )
    conn.close()
    assert repair(store) is None  # healthy now: nothing to do


def test_check_and_repair_of_a_healthy_store(tmp_path: Path, capsys) -> None:
    store = tmp_path / "results.sqlite"
    record(store, [make_result("t.py::test_ok")])
    code, out, _ = run(capsys, "store", "check", "--store", str(store))
    assert (code, out) == (
        0,
        f"the store at {store} is healthy (schema version 2, 1 sessions, 1 results)\n",
    )
    code, out, _ = run(capsys, "--store", str(store), "store", "repair")
    assert (code, out) == (0, f"the store at {store} is healthy; nothing to repair\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]


def test_store_check_without_a_store_says_where_it_looked(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "store", "check")
    assert code == 1 and not out and "no store found" in err
