"""The ``pytest-testreport`` CLI over stores written by the real ``LocalTarget``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from pytest_testreport.targets.local.target import connect

from .helpers_store import SampleStore, make_result, record, run, run_json

SESSION_KEYS = [
    "id", "uuid", "status", "error_message", "branch", "revision", "started_at", "finished_at",
    "duration", "tests_count", "passed_count", "failed_count", "skipped_count", "error_count",
    "ci_provider", "run_url",
]  # fmt: skip
TEST_KEYS = [
    "nodeid", "name", "path", "line", "location", "kind", "outcome", "reason", "duration",
    "attempt", "final", "worker", "started_at", "finished_at", "failure", "steps", "metadata",
    "tags",
]  # fmt: skip


def columns(line: str) -> int:
    """Terminal columns, measured independently of the CLI's own helper."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in line
    )


pytestmark = pytest.mark.usefixtures("plain_terminal")


# -- list -------------------------------------------------------------------------------------


def test_list_json_shapes_and_values(
    store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    sessions = run_json(capsys, "list")
    assert [s["id"] for s in sessions] == [store.third.id, store.second.id, store.first.id]
    # list adds the logical run (CI run id) each row stands for, and its sessions.
    assert all(list(s) == [*SESSION_KEYS, "run", "sessions"] for s in sessions)
    assert [(s["run"], s["sessions"]) for s in sessions] == [(None, [s["id"]]) for s in sessions]
    assert sessions[1] == {
        "id": store.second.id,
        "uuid": store.second.uuid,
        "status": "successful",
        "error_message": None,
        "branch": "feature",
        "revision": "fedcba9876543210",
        "started_at": "2024-05-01T11:00:00Z",
        "finished_at": "2024-05-01T11:00:03Z",
        "duration": 3.0,
        "tests_count": 1,
        "passed_count": 1,
        "failed_count": 0,
        "skipped_count": 0,
        "error_count": 0,
        "ci_provider": "github",
        "run_url": "https://ci.example/run/2",
        "run": None,
        "sessions": [store.second.id],
    }
    first = sessions[2]
    assert first["status"] == "error"
    assert first["error_message"] == "1 failed, 1 error"
    assert first["duration"] == 12.5
    assert first["finished_at"] == "2024-05-01T10:00:12.500000Z"
    # Each test once, as its final attempt; xfailed counts as skipped.
    assert (first["tests_count"], first["passed_count"], first["failed_count"]) == (6, 2, 1)
    assert (first["skipped_count"], first["error_count"]) == (2, 1)
    assert (first["ci_provider"], first["run_url"]) == (None, None)


def test_in_progress_session_lists_with_counts_so_far(
    store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    killed = run_json(capsys, "list")[0]
    assert killed["id"] == store.third.id
    assert killed["status"] == "in_progress"
    assert killed["finished_at"] is None and killed["duration"] is None
    assert (killed["tests_count"], killed["passed_count"], killed["failed_count"]) == (2, 1, 1)
    code, out, _ = run(capsys, "list")
    assert code == 0
    row = out.splitlines()[1].split()
    assert row[:3] == [str(store.third.id), "in_progress", "main"]
    assert row[6:] == ["-", "2", "1", "0", "0"]


def test_list_human_table(store: SampleStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID", "STATUS", "BRANCH", "REVISION", "STARTED", "DURATION", "TESTS", "FAILED", "SKIPPED",
        "ERRORS",
    ]  # fmt: skip
    assert len(lines) == 4
    assert lines[2].split() == [
        str(store.second.id), "successful", "feature", "fedcba98", "2024-05-01", "11:00", "3.00s",
        "1", "0", "0", "0",
    ]  # fmt: skip
    assert lines[3].split()[:2] == [str(store.first.id), "error"]
    assert lines[3].split()[6:] == ["12.50s", "6", "1", "2", "1"]
    # Aligned: every column starts where its header does.
    assert lines[2].index("successful") == lines[0].index("STATUS")
    assert all(columns(line) <= 100 for line in lines)


def test_list_branch_and_pagination(store: SampleStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert [s["id"] for s in run_json(capsys, "list", "--branch", "main")] == [
        store.third.id,
        store.first.id,
    ]
    assert [s["id"] for s in run_json(capsys, "list", "--per-page", "2")] == [
        store.third.id,
        store.second.id,
    ]
    assert [s["id"] for s in run_json(capsys, "list", "--per-page", "2", "--page", "2")] == [
        store.first.id
    ]
    assert run_json(capsys, "list", "--per-page", "2", "--page", "3") == []
    assert run(capsys, "list", "--per-page", "2", "--page", "3")[1] == "no sessions on page 3\n"
    assert run(capsys, "list", "--branch", "nope")[1] == "no sessions on branch nope yet\n"


def test_list_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.sqlite"
    connect(path, create=True).close()
    assert run(capsys, "list", "--store", str(path)) == (0, "no sessions yet\n", "")
    assert run_json(capsys, "list", "--store", str(path)) == []


# -- show -------------------------------------------------------------------------------------


def test_show_json_every_attempt_in_stored_order(
    store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = run_json(capsys, "show", str(store.first.id))
    assert list(shown) == [*SESSION_KEYS, "tests"]
    assert shown["uuid"] == store.first.uuid
    tests = shown["tests"]
    assert all(list(t) == TEST_KEYS for t in tests)
    assert [(t["nodeid"].split("::")[-1], t["attempt"], t["final"]) for t in tests] == [
        ("test_ok", 1, True),
        ("test_rerun", 1, False),
        ("test_rerun", 2, True),
        ("test_bad", 1, True),
        ("tests/test_b.py", 1, True),
        ("test_skip", 1, True),
        ("test_xf", 1, True),
    ]
    outer, inner = store.steps
    assert tests[0] == {
        "nodeid": "tests/test_a.py::test_ok",
        "name": "test_ok",
        "path": "tests/test_a.py",
        "line": 3,
        "location": "tests/test_a.py:3",
        "kind": "test",
        "outcome": "passed",
        "reason": None,
        "duration": 0.5,
        "attempt": 1,
        "final": True,
        "worker": "gw0",
        "started_at": "2024-05-01T10:00:00Z",
        "finished_at": "2024-05-01T10:00:00.500000Z",
        "failure": None,
        "steps": [
            {
                "id": outer.id,
                "parent_id": None,
                "keyword": "Given",
                "text": "open page",
                "started_at": "2024-05-01T10:00:01Z",
                "finished_at": "2024-05-01T10:00:03Z",
                "duration": 2.0,
                "result": "passed",
                "failure": None,
            },
            {
                "id": inner.id,
                "parent_id": outer.id,
                "keyword": None,
                "text": "click",
                "started_at": "2024-05-01T10:00:02Z",
                "finished_at": None,
                "duration": None,
                "result": "failed",
                "failure": "boom",
            },
        ],
        "metadata": {"owner": "ann", "link": ["x", "y"]},
        "tags": ["smoke", "db"],
    }
    assert tests[1]["outcome"] == "failed" and tests[1]["failure"]["message"] == "flake"
    assert tests[2]["outcome"] == "passed" and tests[2]["failure"] is None
    assert tests[3]["failure"] == {
        "message": "AssertionError: assert 1 == 2\nsecond line",
        "phase": "call",
        "traceback": ["tb 1", "tb 2"],
    }
    collection = tests[4]
    assert (collection["kind"], collection["outcome"], collection["name"]) == (
        "collection_error",
        "error",
        "test_b.py",
    )
    assert (collection["line"], collection["location"]) == (None, "tests/test_b.py")
    assert collection["failure"]["phase"] == "collect"
    assert (tests[5]["outcome"], tests[5]["reason"]) == ("skipped", "no db")
    assert (tests[6]["outcome"], tests[6]["reason"]) == ("xfailed", "bug 7")
    assert (tests[5]["steps"], tests[5]["metadata"], tests[5]["tags"]) == ([], {}, [])


def test_show_human(store: SampleStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", str(store.first.id))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"session {store.first.id}  error: 1 failed, 1 error"
    assert lines[1].split() == ["uuid", store.first.uuid]
    assert lines[2].split() == ["branch", "main", "@", "01234567"]
    assert lines[3].split() == ["started", "2024-05-01", "10:00:00", "UTC", "duration", "12.50s"]
    assert lines[4].split(None, 1) == ["tests", "6: 2 passed, 1 failed, 2 skipped, 1 error"]
    header = lines.index("OUTCOME  DURATION  ATTEMPT  TEST")
    body = [line.split() for line in lines[header + 1 :]]
    assert body == [
        ["passed", "500ms", "1", "tests/test_a.py::test_ok"],
        ["failed", "100ms", "1", "tests/test_a.py::test_rerun"],
        ["flake"],
        ["passed", "250ms", "2", "tests/test_a.py::test_rerun"],
        ["failed", "100ms", "1", "tests/test_a.py::test_bad"],
        ["AssertionError:", "assert", "1", "==", "2"],
        ["second", "line"],
        ["error", "100ms", "1", "tests/test_b.py"],
        ["ImportError:", "nope"],
        ["skipped", "100ms", "1", "tests/test_a.py::test_skip"],
        ["xfailed", "100ms", "1", "tests/test_a.py::test_xf"],
    ]
    message = lines[header + 3]
    assert message == "    flake"


def test_show_ci_line(store: SampleStore, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "show", str(store.second.id))[1]
    assert "  ci        github https://ci.example/run/2" in out.splitlines()


def test_show_latest_and_latest_on_branch(
    store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_json(capsys, "show", "latest")["id"] == store.third.id
    assert run_json(capsys, "show", "latest", "--branch", "feature")["id"] == store.second.id
    # A session id that is not on the branch asked for is not found.
    code, out, err = run(capsys, "show", str(store.second.id), "--branch", "main")
    assert (code, out) == (1, "")
    assert err == (
        f"pytest-testreport: no session '{store.second.id}' on branch 'main' in {store.path}\n"
    )
    # The uuid names a session too.
    assert run_json(capsys, "show", store.second.uuid)["id"] == store.second.id


def test_show_in_progress_session_has_results_of_killed_run(
    store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = run_json(capsys, "show", "latest")
    assert shown["status"] == "in_progress"
    assert [(t["nodeid"], t["outcome"]) for t in shown["tests"]] == [
        ("tests/test_a.py::test_ok", "passed"),
        ("tests/test_a.py::test_bad", "failed"),
    ]


def test_unknown_session_is_one_line_exit_1(
    store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    for verb in ("show", "failed"):
        for extra in ((), ("--json",)):
            code, out, err = run(capsys, verb, "999", *extra)
            assert (code, out) == (1, "")
            assert err == f"pytest-testreport: no session '999' in {store.path}\n"
    code, _, err = run(capsys, "failed", "latest", "--branch", "gone")
    assert code == 1
    assert err == f"pytest-testreport: no session 'latest' on branch 'gone' in {store.path}\n"


# -- failed -----------------------------------------------------------------------------------


def test_failed_json_final_attempts_only(
    store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = run_json(capsys, "failed", str(store.first.id))
    # test_rerun failed on attempt 1 but passed on its final attempt: not listed.
    assert [(t["nodeid"], t["outcome"], t["final"]) for t in failed] == [
        ("tests/test_a.py::test_bad", "failed", True),
        ("tests/test_b.py", "error", True),
    ]
    assert all(list(t) == TEST_KEYS for t in failed)
    assert failed[0]["failure"]["traceback"] == ["tb 1", "tb 2"]
    assert [t["nodeid"] for t in run_json(capsys, "failed", "latest")] == [
        "tests/test_a.py::test_bad"
    ]
    assert run_json(capsys, "failed", "latest", "--branch", "feature") == []


def test_failed_human(store: SampleStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "failed", str(store.first.id))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"1 failed, 1 error in session {store.first.id} on branch main:"
    assert lines[1].split() == ["OUTCOME", "DURATION", "TEST"]
    assert lines[2].split() == ["failed", "100ms", "tests/test_a.py::test_bad"]
    assert lines[3] == "    AssertionError: assert 1 == 2"
    assert lines[5].split() == ["error", "100ms", "tests/test_b.py"]
    assert lines[6] == "    ImportError: nope"
    assert len(lines) == 7
    empty = run(capsys, "failed", "latest", "--branch", "feature")
    assert empty == (0, f"no failed tests in session {store.second.id}\n", "")


# -- layout -----------------------------------------------------------------------------------


def test_unicode_and_long_node_ids_fit_100_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wide.sqlite"
    long_id = "tests/test_ünï.py::test_日本語[" + "x" * 150 + "-end]"
    wide_branch = "功能/" + "很长的分支名称" * 5
    record(path, [make_result(long_id, "failed", message="断言失败 " * 40),
                  make_result("tests/t.py::test_é", duration=7200.0)],
           branch=wide_branch)  # fmt: skip
    for args in (["list"], ["show", "1"], ["failed", "1"], ["slow"]):
        code, out, _ = run(capsys, *args, "--store", str(path))
        assert code == 0
        lines = out.splitlines()
        assert lines, args
        assert max(columns(line) for line in lines) <= 100, (args, out)
    show = run(capsys, "show", "1", "--store", str(path))[1].splitlines()
    row = next(line for line in show if line.startswith("failed"))
    # Long node ids keep their end, which tells tests apart, and lose their start.
    assert row.endswith("x-end]") and "…" in row and "tests/test_ünï" not in row
    assert "2h00m" in next(line for line in show if line.endswith("tests/t.py::test_é"))
    listed = run(capsys, "list", "--store", str(path))[1].splitlines()[1]
    assert "功能/很长" in listed and "…" in listed
    # JSON is never cut.
    assert run_json(capsys, "show", "1", "--store", str(path))["tests"][0]["nodeid"] == long_id


# -- finding the store, errors, usage ---------------------------------------------------------


def test_store_found_by_walking_up(
    store: SampleStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = store.path.parent.parent / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert len(run_json(capsys, "list")) == 3


def test_store_from_env_and_flag(
    store: SampleStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    other = tmp_path / "other.sqlite"
    record(other, [make_result("x.py::t")], branch="env")
    monkeypatch.setenv("TESTREPORT_LOCAL_PATH", str(other))
    assert [s["branch"] for s in run_json(capsys, "list")] == ["env"]
    # --store wins over the environment, before or after the verb.
    assert len(run_json(capsys, "list", "--store", str(store.path))) == 3
    assert len(run_json(capsys, "--store", str(store.path), "list")) == 3
    # The .testreport directory is accepted for the file in it.
    assert len(run_json(capsys, "list", "--store", str(store.path.parent))) == 3


def test_missing_store_is_one_line_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if any((d / ".testreport" / "results.sqlite").exists() for d in tmp_path.parents):
        pytest.skip("a store exists above the temporary directory")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "list")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("pytest-testreport: no store found")
    assert str(tmp_path) in err and "its parents" in err and "pytest --testreport" in err
    code, _, err = run(capsys, "show", "1", "--store", str(tmp_path / "nope.sqlite"))
    assert code == 1 and err.count("\n") == 1
    assert str(tmp_path / "nope.sqlite") in err
    assert not (tmp_path / "nope.sqlite").exists()  # reading never creates a store
    monkeypatch.setenv("TESTREPORT_LOCAL_PATH", str(tmp_path / "env.sqlite"))
    code, _, err = run(capsys, "list")
    assert code == 1 and "TESTREPORT_LOCAL_PATH" in err and str(tmp_path / "env.sqlite") in err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["nope"],
        ["history"],
        ["show", "1", "2"],
        ["list", "--page", "0"],
        ["list", "--per-page", "x"],
        ["flaky", "--last", "-1"],
        ["slow", "--top", "0"],
        ["list", "--target", "jenkins"],
        ["list", "--bogus"],
    ],
)
def test_bad_usage_exits_2(
    args: list[str], store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == "" and "usage:" in err


def test_bad_target_names_the_choices(
    store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(capsys, "list", "--target", "jenkins")[2]
    assert "invalid choice: 'jenkins'" in err and "'local'" in err


def test_console_script_subprocess(store: SampleStore) -> None:
    script = Path(sys.executable).parent / (
        "pytest-testreport" + (".exe" if os.name == "nt" else "")
    )
    if not script.exists():
        pytest.skip("the pytest-testreport script is not installed next to this interpreter")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTREPORT")}
    done = subprocess.run(
        [str(script), "list", "--json"], capture_output=True, text=True, env=env, timeout=60,
        cwd=store.path.parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ids = [store.third.id, store.second.id, store.first.id]
    assert [s["id"] for s in json.loads(done.stdout)] == ids
    done = subprocess.run(
        [str(script), "show", "42"], capture_output=True, text=True, env=env, timeout=60,
        cwd=store.path.parent.parent,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == f"pytest-testreport: no session '42' in {store.path}\n"
    assert "Traceback" not in done.stderr
