"""The CLI fits the terminal: widths, node ids cut in the middle, colors, durations, defaults,
``--version``, ``python -m`` and the ``history`` verb."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from pytest_testreport import __version__
from pytest_testreport.layout import fit_nodeid, seconds, text_width

from .helpers_store import T0, SampleStore, make_result, record, run, run_json

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG_DIRS = "tests/" + "/".join(f"package_{n}" for n in range(12)) + "/test_module.py"
LONG_ID = f"{LONG_DIRS}::TestSomething::test_the_thing[case-1]"


pytestmark = pytest.mark.usefixtures("plain_terminal")


def test_durations_under_a_second_in_milliseconds() -> None:
    assert [seconds(v) for v in (0.0004, 0.25, 0.9994, 0.9996, 1.5, 59.9, 125)] == [
        "0ms", "250ms", "999ms", "1.00s", "1.50s", "59.90s", "2m05s",
    ]  # fmt: skip


@pytest.mark.parametrize("width", [100, 80, 60, 45])
def test_long_node_id_keeps_file_and_test_name(width: int) -> None:
    cut = fit_nodeid(LONG_ID, width)
    assert text_width(cut) <= width and "…" in cut
    assert "test_module.py" in cut and cut.endswith("::test_the_thing[case-1]")


def test_node_id_cut_keeps_both_ends_when_the_name_is_long() -> None:
    nodeid = "tests/test_ünï.py::test_日本語[" + "x" * 150 + "-end]"
    cut = fit_nodeid(nodeid, 60)
    assert text_width(cut) <= 60
    assert cut.startswith("test_ünï.py::test_日本語[") and cut.endswith("x-end]")


def test_tables_use_the_terminal_width(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.sqlite"
    record(path, [make_result(LONG_ID, "failed", message="boom " * 60)])
    for verb in ("show", "failed"):
        narrow = run(capsys, verb, "--store", str(path))[1].splitlines()
        assert max(text_width(line) for line in narrow) <= 100
        assert not any(LONG_ID in line for line in narrow)
        monkeypatch.setenv("COLUMNS", "220")
        wide = run(capsys, verb, "--store", str(path))[1].splitlines()
        monkeypatch.setenv("COLUMNS", "100")
        assert max(text_width(line) for line in wide) <= 220
        assert any(line.endswith(LONG_ID) for line in wide), wide  # not cut at 100
        assert max(text_width(line) for line in wide) > 100


def test_colors_on_a_terminal_only_and_as_the_environment_says(
    store: SampleStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = run(capsys, "show", "1")[1]
    assert "\x1b[" not in plain  # captured output is no terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    colored = run(capsys, "show", "1")[1]
    assert "\x1b[31mfailed" in colored and "\x1b[32mpassed" in colored
    assert ANSI.sub("", colored) == plain  # colors change nothing else, alignment included
    assert "\x1b[31mfailed" in run(capsys, "failed")[1]
    assert "\x1b[32msuccessful" in run(capsys, "list")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert run(capsys, "show", "1")[1] == plain
    assert "\x1b[" not in run_json_text(capsys)


def run_json_text(capsys: pytest.CaptureFixture[str]) -> str:
    return run(capsys, "show", "1", "--json")[1]


def test_show_and_failed_default_to_latest(
    store: SampleStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_json(capsys, "show")["id"] == store.third.id
    assert run_json(capsys, "show", "--branch", "feature")["id"] == store.second.id
    assert [t["nodeid"] for t in run_json(capsys, "failed")] == ["tests/test_a.py::test_bad"]
    assert run(capsys, "failed")[1].startswith(f"1 failed in session {store.third.id}")


def test_version_and_python_m(store: SampleStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"pytest-testreport {__version__}\n", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTREPORT")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest_testreport", "failed", "--json"],
        capture_output=True, text=True, env=env, timeout=60, cwd=store.path.parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"nodeid": "tests/test_a.py::test_bad"' in done.stdout


def test_history_of_one_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.sqlite"
    nodeid = "t.py::test_x"
    outcomes = [("passed", 0.2, "main"), ("failed", 1.5, "main"), ("passed", 0.3, "dev")]
    for hour, (outcome, duration, branch) in enumerate(outcomes):
        results = [make_result(nodeid, outcome, duration=duration, message="Boom\nmore"),
                   make_result("t.py::other")]  # fmt: skip
        if hour == 2:  # a rerun: the final attempt counts, its number is the attempt count
            results.insert(0, make_result(nodeid, "failed", final=False))
            results[1].attempt = 2
        record(path, results, branch=branch, started=T0 + timedelta(hours=hour))
    found = run_json(capsys, "history", nodeid, "--store", str(path))
    assert [(h["session_id"], h["outcome"], h["duration"], h["attempts"]) for h in found] == [
        (3, "passed", 0.3, 2), (2, "failed", 1.5, 1), (1, "passed", 0.2, 1),
    ]  # fmt: skip
    assert list(found[1]) == ["session_id", "session_uuid", "branch", "revision", "started_at",
                              "outcome", "duration", "attempts", "message"]  # fmt: skip
    assert (found[1]["message"], found[1]["started_at"]) == ("Boom\nmore", "2024-05-01T11:00:00Z")
    assert [h["session_id"] for h in run_json(capsys, "history", nodeid, "--store", str(path),
                                             "--branch", "main", "--last", "1")] == [2]  # fmt: skip
    code, out, _ = run(capsys, "history", nodeid, "--store", str(path))
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("t.py::test_x: the last 3 sessions")
    assert lines[2].split() == ["SESSION", "OUTCOME", "DURATION", "ATTEMPTS", "STARTED", "BRANCH",
                                "REVISION"]  # fmt: skip
    assert lines[3].split()[:4] == ["3", "passed", "300ms", "2"]
    assert lines[4].split()[:4] == ["2", "failed", "1.50s", "1"] and lines[5] == "    Boom"
    code, out, err = run(capsys, "history", "t.py::nope", "--store", str(path))
    assert (code, out) == (1, "")
    assert err == f"pytest-testreport: no results of 't.py::nope' in {path}\n"
