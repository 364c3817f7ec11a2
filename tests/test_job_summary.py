"""CI job summaries: GitHub Actions' step summary and the Buildkite annotation."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from pytest_testreport.config import settings_from_env
from pytest_testreport.engine import SenderState
from pytest_testreport.model import Session
from pytest_testreport.report.job_summary import RunNotes, render
from pytest_testreport.targets.buddy.target import BuddyTarget

from .buildkite_helpers import CI_VARIABLES, FAST, use_fake
from .fakes.buddy import FakeBuddy
from .helpers_store import make_result

FAKE_SECRET = "fake-secret-value-0000"

FIRST = """
def test_a(): pass
def test_b(): assert 0, "b is broken"
def test_c(): pass
"""
# The second run: test_a newly fails; test_b fails again; test_c errors in setup with a message
# full of Markdown; test_flaky fails once and passes on its rerun; test_slow takes longest.
SECOND = """
import os, time, pytest
from pathlib import Path

@pytest.fixture
def broken():
    raise RuntimeError("a | b <b>line</b> *x* `y` \\\\ [l](u) &amp;\\nsecond line")

def test_a(): assert 0, "a broke " + os.environ["LEAKED"]
def test_b(): assert 0, "b is broken"
def test_c(broken): pass

@pytest.mark.flaky(reruns=1)
def test_flaky():
    mark = Path("flaky-ran")
    if not mark.exists():
        mark.write_text("once")
        assert 0, "first try"

def test_slow(): time.sleep(0.3)
"""


def gfm() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def tables(tokens: list[Token]) -> list[list[list[str]]]:
    """Every table as rows of cell texts (the header row first); asserts each row's width."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and tokens[index - 1].type in ("th_open", "td_open"):
            rows[-1].append(_text(token))
        elif token.type == "table_close":
            width = len(rows[0])
            assert all(len(row) == width for row in rows), rows
            found.append(rows)
    return found


def _text(token: Token) -> str:
    return "".join(c.content for c in token.children or [] if c.type in ("text", "code_inline"))


def github_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("TESTREPORT_BRANCH", "main")
    monkeypatch.setenv("BUDDY_UT_TOKEN", FAKE_SECRET)  # a credential, even if unused
    monkeypatch.setenv("LEAKED", FAKE_SECRET)
    return summary


def test_github_step_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = github_env(monkeypatch, tmp_path)
    pytester.makepyfile(test_s=FIRST)
    pytester.runpytest("--testreport", "-p", "no:cacheprovider").assert_outcomes(passed=2, failed=1)
    first = summary.read_text(encoding="utf-8")
    assert "No previous session on branch main" in first
    pytester.makepyfile(test_s=SECOND)
    result = pytester.runpytest("--testreport", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2, errors=1)
    assert result.parseoutcomes()["rerun"] == 1

    text = summary.read_text(encoding="utf-8")
    assert text.startswith(first)  # appended: earlier steps' summaries stay
    second = text[len(first) :]
    assert FAKE_SECRET not in text
    tokens = gfm().parse(second)
    found = tables(tokens)
    failures, flaky, slowest, targets = found
    assert failures[0] == ["Test", "Outcome", "Message", "Links"]
    by_test = {row[0]: row for row in failures[1:]}
    assert sorted(by_test) == ["test_s.py::test_a", "test_s.py::test_b", "test_s.py::test_c"]
    assert by_test["test_s.py::test_c"][1] == "error"
    # The message keeps its text; | and the newline did not break the row.
    message = by_test["test_s.py::test_c"][2]
    assert message == "RuntimeError: a | b <b>line</b> *x* `y` \\ [l](u) &amp;"
    assert by_test["test_s.py::test_a"][2].startswith("AssertionError: a broke ***")
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0] == "pytest-testreport: failed"
    assert "5 tests: 2 passed, 2 failed, 1 error, 0 skipped" in second
    new = headings.index("New failures since session 1 on branch main")
    assert headings[new + 1] == "Flaky tests"
    listed = second.split("### New failures since session 1 on branch main")[1].split("###")[0]
    # test_b failed in session 1 too; test_c did not exist there.
    assert listed.split() == ["-", "test\\_s.py::test\\_a", "-", "test\\_s.py::test\\_c"]
    assert ["test_s.py::test_flaky", "passed on a rerun in this run"] in flaky
    assert slowest[0] == ["Test", "Duration"] and slowest[1][0] == "test_s.py::test_slow"
    assert targets[1][:2] == ["local", "delivered (6 results)"]


def test_summary_false_writes_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = github_env(monkeypatch, tmp_path)
    pytester.makepyfile(test_s=FIRST)
    pytester.makeini("[pytest]\ntestreport_summary = false\n")
    pytester.runpytest("--testreport").assert_outcomes(passed=2, failed=1)
    assert not summary.exists()
    # Outside GitHub Actions (the variable alone) nothing is written either.
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    pytester.runpytest("--testreport", "--testreport-summary=true")
    assert not summary.exists()


def fake_agent(directory: Path, exit_code: int = 0) -> Path:
    """A ``buildkite-agent`` that records its arguments and stdin next to itself."""
    directory.mkdir()
    script = directory / "buildkite-agent"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(directory / 'calls.jsonl')!r}, 'a') as out:\n"
        "    out.write(json.dumps([sys.argv[1:], sys.stdin.read()]) + '\\n')\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return directory / "calls.jsonl"


@pytest.mark.skipif(os.name == "nt", reason="a shebang script stands in for the agent")
def test_buildkite_annotation_without_local_target(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, buildkite_fake: Any
) -> None:
    use_fake(monkeypatch, buildkite_fake)
    calls = fake_agent(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("BUILDKITE", "true")
    monkeypatch.setenv("TESTREPORT_DELIVERY", "thread")
    pytester.makepyfile(test_s=FIRST)
    pytester.runpytest(*FAST).assert_outcomes(passed=2, failed=1)
    (args, body), *more = [json.loads(line) for line in calls.read_text().splitlines()]
    assert not more
    assert args == ["annotate", "--context", "testreport", "--style", "error"]
    failures, _slowest, targets = tables(gfm().parse(body))
    assert [row[:3] for row in failures[1:]] == [
        ["test_s.py::test_b", "failed", "AssertionError: b is broken"]
    ]
    assert failures[1][3] == "buildkite"  # the link's text: the run on Buildkite
    assert targets[1][:2] == ["buildkite", "delivered (3 results)"]
    assert "need the local target" in body
    run_url = next(line for line in body.splitlines() if line.startswith("| buildkite"))
    assert "](https://buildkite.com/organizations/fake-org/analytics/" in run_url


def test_render_bounds_and_escapes() -> None:
    notes = RunNotes()
    for n in range(60):
        notes.add(make_result(f"t.py::test_{n}|x", "failed", message="line one\nline two"))
    session = Session()
    session.count(make_result("t.py::ok"))
    session.finish()
    state = SenderState("buddy", delivered=1, closed=True, link="https://x.example/a b(c)|d")
    state.errors.append("HTTP 500\nbody | <html>")
    text = render(session, [state], notes, None)
    failures, slowest, targets = tables(gfm().parse(text))
    assert len(failures) == 1 + 50 and len(slowest) == 1 + 5
    assert failures[1] == ["t.py::test_0|x", "failed", "line one", "buddy"]
    assert "... and 10 more" in text
    assert "(https://x.example/a%20b%28c%29%7Cd)" in text
    assert targets[1][1] == "delivered (1 result); HTTP 500 body | <html>"


# -- links to each failed test on the remote targets ------------------------------------------


def links(text: str) -> dict[str, dict[str, str]]:
    """Per failure row (node id): link text -> href of its Links cell."""
    tokens = gfm().parse(text)
    found: dict[str, dict[str, str]] = {}
    row: list[Any] = []
    for index, token in enumerate(tokens):
        if token.type == "tr_open":
            row = []
        elif token.type == "inline" and tokens[index - 1].type == "td_open":
            row.append(token)
        elif token.type == "tr_close" and len(row) == 4:
            children = row[3].children or []
            hrefs = [c.attrGet("href") for c in children if c.type == "link_open"]
            texts = [children[i + 1].content for i, c in enumerate(children)
                     if c.type == "link_open"]  # fmt: skip
            found[_text(row[0])] = dict(zip(texts, hrefs))
    return found


def test_a_failure_links_its_test_where_a_target_gave_a_link_else_the_session() -> None:
    notes = RunNotes()
    first, second = make_result("t.py::one", "failed"), make_result("t.py::two", "error")
    for result in (first, second, make_result("t.py::ok")):
        notes.add(result)
    session = Session()
    states = [
        SenderState("local", delivered=3, closed=True),
        SenderState("buddy", delivered=3, closed=True, link="https://buddy.example/s/1",
                    test_links={first.uuid: "https://buddy.example/s/1/cases/7"}),
        SenderState("buildkite", delivered=3, closed=True, link="https://bk.example/run/2"),
    ]  # fmt: skip
    found = links(render(session, states, notes, None))
    assert found == {
        "t.py::one": {"buddy": "https://buddy.example/s/1/cases/7",
                      "buildkite": "https://bk.example/run/2"},
        "t.py::two": {"buddy": "https://buddy.example/s/1", "buildkite": "https://bk.example/run/2"},
    }  # fmt: skip


def test_buddy_keeps_the_case_link_of_the_first_50_failures_only(
    buddy_fake: FakeBuddy, tmp_path: Path
) -> None:
    target = BuddyTarget.from_settings(settings_from_env(buddy_fake.env(), tmp_path))
    session = Session()
    target.open_session(session)
    failed = [make_result(f"t.py::test_{n}", "failed") for n in range(60)]
    passed = [make_result(f"t.py::ok_{n}") for n in range(5)]
    rerun = make_result("t.py::test_rerun", "failed", final=False)  # an earlier attempt only
    target.send_batch(session, [*passed, rerun, *failed[:30]], {})
    target.send_batch(session, failed[30:], {})
    kept = target.test_links()
    assert list(kept) == [r.uuid for r in failed[:50]]
    case = buddy_fake.session.case("test_7")
    assert kept[failed[7].uuid].endswith(f"/cases/{case.id}")  # the answer's own html_url


def test_the_github_summary_links_a_failure_to_its_case_on_buddy(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    buddy_fake: FakeBuddy,
) -> None:  # fmt: skip
    summary = github_env(monkeypatch, tmp_path)
    for name, value in buddy_fake.env().items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_s=FIRST)
    result = pytester.runpytest("--testreport=local,buddy", "-p", "no:cacheprovider",
                                "--testreport-flush-timeout=15")  # fmt: skip
    result.assert_outcomes(passed=2, failed=1)
    case = buddy_fake.session.case("test_b")
    (row,) = links(summary.read_text(encoding="utf-8")).items()
    assert row[0] == "test_s.py::test_b"
    assert row[1]["buddy"].endswith(f"/{buddy_fake.session.id}/cases/{case.id}")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_cancelled_job_still_gets_its_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """CI cancels a job with SIGTERM: the session closes and the summary says so."""
    summary = github_env(monkeypatch, tmp_path)
    pytester.makepyfile(
        test_term="""
        import os, signal
        def test_first(): assert 0, "first broke"
        def test_cancelled():
            os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    result = pytester.runpytest_subprocess("--testreport", "-p", "no:cacheprovider")
    assert result.ret == -signal.SIGTERM
    text = summary.read_text(encoding="utf-8")
    assert "terminated: SIGTERM" in text
    assert "first broke" in text  # the failure before the cancellation
