"""The HTML report: what ``pytest-testreport html`` and ``--testreport-html`` write.

These read the page's embedded data and markup; tests/test_html_browser.py opens it in Chromium.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.cli import main as run_cli
from pytest_testreport.engine import SenderState
from pytest_testreport.report.build import load_deliveries, save_deliveries

from .fakes.buddy import FakeBuddy
from .helpers_store import T0, SampleStore, make_result, record, run

DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)


def page_data(path: Path) -> dict[str, Any]:
    """The JSON the page embeds (exactly one block)."""
    blocks = DATA.findall(path.read_text(encoding="utf-8"))
    assert len(blocks) == 1
    return json.loads(blocks[0])


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SampleStore:
    made = SampleStore(tmp_path / "proj" / ".testreport" / "results.sqlite")
    monkeypatch.chdir(tmp_path / "proj")
    return made


# -- the CLI verb -----------------------------------------------------------------------------


def test_html_writes_the_latest_session_to_the_default_path(
    store: SampleStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "html")
    assert (code, err) == (0, "")
    path = tmp_path / "proj" / ".testreport" / "report.html"
    assert out.strip() == str(path)
    data = page_data(path)
    assert data["session"]["id"] == store.third.id
    assert data["session"]["outcomes"] == {
        "passed": 1, "failed": 1, "error": 0, "skipped": 0, "xfailed": 0, "xpassed": 0,
    }  # fmt: skip
    assert [s["id"] for s in data["history"]] == [store.first.id, store.second.id, store.third.id]
    tests = data["tests"]
    index = tests["nodeid"].index("tests/test_a.py::test_bad")
    # Outcome strip, oldest first: failed in session 1, absent in 2, failed in 3.
    assert tests["strip"][index] == "f.f"
    assert tests["outcome"][index] == "f"


def test_html_of_one_session_with_failures_reruns_and_steps(
    store: SampleStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_path = tmp_path / "elsewhere" / "first.html"
    code, out, _ = run(capsys, "html", str(store.first.id), "-o", str(out_path), "--last", "5")
    assert code == 0 and out.strip() == str(out_path)
    data = page_data(out_path)
    assert [s["id"] for s in data["history"]] == [store.first.id]  # nothing before session 1
    tests = data["tests"]
    assert len(tests["nodeid"]) == 6  # final attempts only: the rerun test once
    rerun = tests["nodeid"].index("tests/test_a.py::test_rerun")
    assert (tests["outcome"][rerun], tests["attempts"][rerun]) == ("p", 2)
    failures = {f["nodeid"]: f for f in data["failures"]}
    assert set(failures) == {"tests/test_a.py::test_bad", "tests/test_b.py"}
    bad = failures["tests/test_a.py::test_bad"]
    assert bad["traceback"] == "tb 1\ntb 2"
    assert bad["message"].startswith("AssertionError: assert 1 == 2")
    assert failures["tests/test_b.py"]["outcome"] == "error"
    # The rerun that passed is flaky.
    assert [r["nodeid"] for r in data["flaky"]["rows"]] == ["tests/test_a.py::test_rerun"]
    assert data["flaky"]["rows"][0]["reruns"] == 1


def test_html_branch_and_unknown_session(
    store: SampleStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = run(capsys, "html", "--branch", "feature")
    assert code == 0
    data = page_data(tmp_path / "proj" / ".testreport" / "report.html")
    assert data["session"]["id"] == store.second.id
    assert [s["id"] for s in data["history"]] == [store.second.id]  # only that branch
    assert data["session"]["run_url"] == "https://ci.example/run/2"
    code, out, err = run(capsys, "html", "99")
    assert (code, out) == (1, "")
    assert err.startswith("pytest-testreport: no session '99'") and err.count("\n") == 1


def test_html_unwritable_output_is_one_line_and_exit_1(
    store: SampleStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run(capsys, "html", "-o", str(blocker / "report.html"))
    assert (code, out) == (1, "")
    assert err.startswith("pytest-testreport: cannot write") and err.count("\n") == 1


def test_html_without_a_store_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "html")
    assert code == 1 and "no store found" in err


def test_the_page_loads_nothing_from_elsewhere_and_keeps_hostile_text_as_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s.sqlite"
    hostile = "</script><script>alert(1)</script><!-- & \u2028 é"
    failed = make_result("t.py::test_x", "failed", message=hostile, traceback=[hostile])
    failed.stdout = hostile
    record(store, [failed, make_result(f"t.py::{hostile}")], run_url="javascript:alert(1)")
    out = tmp_path / "r.html"
    assert run(capsys, "--store", str(store), "html", "-o", str(out))[0] == 0
    html = out.read_text(encoding="utf-8")
    data = page_data(out)  # the block is intact: the hostile text did not end it
    assert data["failures"][0]["stdout"] == hostile
    assert data["failures"][0]["message"] == hostile
    assert html.count("<script") == 1 + 3  # the data block and the three scripts
    assert 'href="javascript:' not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "@import" not in html and "<link" not in html
    assert "default-src 'none'" in html


# -- flaky and slow ---------------------------------------------------------------------------


def test_flaky_same_revision_and_slow_trend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s.sqlite"
    runs = [
        ("aaa", {"t.py::flip": ("passed", 1.0), "t.py::steady": ("failed", 2.0)}),
        ("aaa", {"t.py::flip": ("failed", 3.0), "t.py::steady": ("failed", 2.5)}),
        ("bbb", {"t.py::flip": ("passed", 2.0), "t.py::steady": ("passed", 0.5)}),
    ]
    for i, (revision, tests) in enumerate(runs):
        results = [make_result(n, o, duration=d) for n, (o, d) in tests.items()]
        record(store, results, revision=revision, started=T0 + timedelta(minutes=i))
    out = tmp_path / "r.html"
    assert run(capsys, "--store", str(store), "html", "-o", str(out))[0] == 0
    data = page_data(out)
    # steady changed too, but between revisions: that is a fix, not flakiness.
    assert data["flaky"]["rows"] == [
        {"nodeid": "t.py::flip", "reruns": 0, "revisions": ["aaa"], "strip": "pfp"}
    ]
    slow = {s["nodeid"]: s for s in data["slow"]}
    assert slow["t.py::flip"] == {"nodeid": "t.py::flip", "duration": 2.0,
                                  "trend": [1.0, 3.0, 2.0]}  # fmt: skip
    assert [s["nodeid"] for s in data["slow"]] == ["t.py::flip", "t.py::steady"]
    assert [s["duration"] for s in data["history"]] == [12.5, 12.5, 12.5]


# -- delivery notes of the remote targets -----------------------------------------------------


def test_delivery_notes_read_spooled_until_the_journal_is_replayed(tmp_path: Path) -> None:
    store = tmp_path / ".testreport" / "results.sqlite"
    spool = tmp_path / ".testreport" / "spool"
    spool.mkdir(parents=True)
    journal = spool / "buildkite-u1.jsonl"
    states = [
        SenderState(target="local", delivered=3, closed=True),
        SenderState(target="buddy", delivered=3, closed=True, link="https://app.example/s/1"),
        SenderState(
            target="buildkite", delivered=1, spooled=2, spool_path=journal, link="javascript:x"
        ),
    ]
    journal.write_text("{}\n")
    save_deliveries(store, "u1", states)
    notes = {n["target"]: n for n in load_deliveries(store, "u1")}
    assert set(notes) == {"buddy", "buildkite"}
    assert (notes["buddy"]["status"], notes["buddy"]["link"]) == (
        "delivered",
        "https://app.example/s/1",
    )
    assert (notes["buildkite"]["status"], notes["buildkite"]["link"]) == ("spooled", None)
    journal.unlink()  # what replay does once the service confirmed everything
    assert load_deliveries(store, "u1")[1]["status"] == "delivered (replayed)"
    assert load_deliveries(store, "other") == []


# -- --testreport-html at the end of a run ----------------------------------------------------

SUITE = """
import pytest

def test_ok():
    pass

def test_bad():
    print("captured words")
    assert 1 == 2

@pytest.mark.skip(reason="later")
def test_skip():
    pass
"""


def test_run_writes_the_report_once_after_the_session_closed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--testreport", "--testreport-html", "-p", "no:cacheprovider")
    path = pytester.path / ".testreport" / "report.html"
    result.stdout.fnmatch_lines([f"testreport html: {path}"])
    assert result.stdout.str().count("testreport html:") == 1
    data = page_data(path)
    assert data["session"]["status"] == "error"  # closed, not in_progress
    assert data["session"]["outcomes"]["failed"] == 1
    assert data["session"]["outcomes"]["skipped"] == 1
    (bad,) = data["failures"]
    assert bad["nodeid"] == "test_suite.py::test_bad"
    assert "assert 1 == 2" in bad["traceback"] and "captured words" in bad["stdout"]


@pytest.mark.parametrize(
    ("how", "where"),
    [
        ("flag", "custom/r.html"),
        ("ini", "from_ini.html"),
        ("env", "from_env.html"),
    ],
)
def test_run_report_path_from_each_spelling(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str, where: str
) -> None:
    pytester.makepyfile(test_suite="def test_ok():\n    pass\n")
    args = ["--testreport", "-p", "no:cacheprovider"]
    if how == "flag":
        args.append(f"--testreport-html={where}")
    elif how == "ini":
        pytester.makeini(f"[pytest]\ntestreport_html = {where}\n")
    else:
        monkeypatch.setenv("TESTREPORT_HTML", where)
    result = pytester.runpytest(*args)
    assert result.ret == 0
    assert page_data(pytester.path / where)["session"]["outcomes"]["passed"] == 1
    assert not (pytester.path / ".testreport" / "report.html").exists()


def test_bare_flag_before_a_test_path_keeps_the_path(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("suite").joinpath("test_a.py").write_text("def test_a():\n    pass\n")
    pytester.makepyfile(test_other="def test_other():\n    assert 0\n")
    result = pytester.runpytest("--testreport", "--testreport-html", "suite", "-p",
                                "no:cacheprovider")  # fmt: skip
    assert result.ret == 0  # only suite/ ran
    data = page_data(pytester.path / ".testreport" / "report.html")
    assert data["tests"]["nodeid"] == ["suite/test_a.py::test_a"]


def test_run_without_the_local_target_says_so(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_suite="def test_ok():\n    pass\n")
    monkeypatch.setenv("TESTREPORT_HTML", "true")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["testreport html: not written: *the local target is off*"])
    assert not (pytester.path / ".testreport").exists()


def test_html_false_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite="def test_ok():\n    pass\n")
    result = pytester.runpytest("--testreport", "--testreport-html=false", "-p",
                                "no:cacheprovider")  # fmt: skip
    assert result.ret == 0 and "testreport html" not in result.stdout.str()
    assert not (pytester.path / ".testreport" / "report.html").exists()


def test_report_shows_a_remote_target_delivered_spooled_then_replayed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(test_suite="def test_ok():\n    pass\n")
    for name, value in buddy_fake.env().items():
        monkeypatch.setenv(name, value)
    args = ["--testreport=local,buddy", "--testreport-html", "-p", "no:cacheprovider",
            "--testreport-flush-timeout=5"]  # fmt: skip
    path = pytester.path / ".testreport" / "report.html"
    assert pytester.runpytest_subprocess(*args).ret == 0
    (buddy,) = page_data(path)["targets"]
    assert (buddy["target"], buddy["status"], buddy["delivered"]) == ("buddy", "delivered", 1)
    assert buddy["link"].startswith("http")
    assert f'href="{buddy["link"]}"' in path.read_text(encoding="utf-8")

    buddy_fake.outage()
    assert pytester.runpytest_subprocess(*args).ret == 0
    (buddy,) = page_data(path)["targets"]
    assert (buddy["status"], buddy["spooled"]) == ("spooled", 1)
    buddy_fake.recover()
    monkeypatch.chdir(pytester.path)
    assert run_cli(["replay"]) == 0
    assert run_cli(["html"]) == 0
    assert page_data(path)["targets"][0]["status"] == "delivered (replayed)"


def test_run_without_a_terminal_still_writes_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite="def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--testreport", "--testreport-html=r.html", "-p", "no:cacheprovider", "-p", "no:terminal"
    )
    assert result.ret == 0
    assert f"testreport html: {pytester.path / 'r.html'}" in result.stderr.str()
    assert page_data(pytester.path / "r.html")["session"]["outcomes"]["passed"] == 1
