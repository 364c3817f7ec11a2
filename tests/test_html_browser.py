"""The HTML report in a real browser: the system's Chromium, driven by Playwright.

No browser is ever downloaded: Playwright launches the Chromium that the system packages
installed (``.ci/run`` installs it). The tests skip, saying why, only when there is none.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from .helpers_store import T0, make_result, record, run

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def chromium_path() -> str | None:
    """The system Chromium (``TESTREPORT_CHROMIUM`` names another)."""
    wanted = os.environ.get("TESTREPORT_CHROMIUM")
    if wanted:
        return wanted
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found: apt-get install chromium (see .ci/run)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Page:
    """A report opened from file://, collecting console errors and network requests."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 1000})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else 0)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("#table-body .row")

    def rows(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#table-body .row .nodeid", "els => els.map(e => e.title)"
        )

    def shown(self) -> str:
        return self.page.inner_text("#shown-count")

    def wait_shown(self, text: str) -> None:
        """Filtering is debounced: wait until the count says ``text``."""
        self.page.wait_for_function(
            "text => document.getElementById('shown-count').textContent === text", arg=text
        )


@pytest.fixture
def report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    store = tmp_path / "s.sqlite"
    for i in range(3):  # two earlier sessions for the history
        record(store, [make_result("t/test_a.py::test_pay", "passed" if i else "failed"),
                       make_result("t/test_a.py::test_ship")],
               started=T0 + timedelta(minutes=i), revision=f"rev{i}")  # fmt: skip
    results = [make_result(f"t/test_many.py::test_{n}", duration=n / 1000) for n in range(400)]
    results += [
        make_result("t/test_a.py::test_pay", "failed", message="AssertionError: paid twice",
                    traceback=["def test_pay():", ">   assert pay() == 1", "E   assert 2 == 1"]),
        make_result("t/test_a.py::test_ship", "error", phase="setup", message="fixture db down"),
        make_result("t/test_a.py::test_later", "skipped", reason="later"),
    ]  # fmt: skip
    record(store, results, started=T0 + timedelta(minutes=5), revision="rev3")
    out = tmp_path / "report.html"
    assert run(capsys, "--store", str(store), "html", "-o", str(out))[0] == 0
    return out


def test_counts_failure_filter_and_search_in_a_browser(
    browser: Any, report: Path, tmp_path: Path
) -> None:
    view = Page(browser, report)
    page = view.page
    counts = page.eval_on_selector_all(
        "#counts .count",
        "els => els.map(e => [e.dataset.outcome, e.querySelector('b').textContent])",
    )
    assert dict(counts) == {"all": "403", "passed": "400", "failed": "1", "error": "1",
                            "skipped": "1", "xfailed": "0", "xpassed": "0"}  # fmt: skip
    assert view.shown() == "403 tests"
    # Only the rows in view are in the DOM, failures and errors first.
    rows = view.rows()
    assert 10 < len(rows) < 100
    assert rows[:2] == ["t/test_a.py::test_ship", "t/test_a.py::test_pay"]

    # A failure's traceback is collapsed until opened.
    failure = page.locator("details.failure", has_text="t/test_a.py::test_pay")
    assert not failure.locator("pre.traceback").count()
    failure.locator("summary").click()
    assert "E   assert 2 == 1" in failure.locator("pre.traceback").inner_text()

    # Outcome filter: only skipped.
    for outcome in ("error", "failed", "passed"):
        page.uncheck(f"#filters input[value={outcome}]")
    assert view.shown() == "1 of 403 tests"
    assert view.rows() == ["t/test_a.py::test_later"]
    page.check("#filters input[value=passed]")

    # Search narrows by node id words, case-insensitively.
    page.fill("#search", "MANY test_39")
    view.wait_shown("11 of 403 tests")
    assert set(view.rows()) == {f"t/test_many.py::test_{n}" for n in [39, *range(390, 400)]}

    # Sorting by duration, slowest first.
    page.fill("#search", "")
    view.wait_shown("401 of 403 tests")
    page.click("#table-head button[data-key=duration]")
    assert view.rows()[0] == "t/test_many.py::test_399"

    # History: one bar per session, the flaky test found on its strip.
    assert page.locator("#chart-outcomes g.bar").count() == 4
    assert "t/test_a.py::test_pay" not in page.inner_text("#flaky-table")  # revisions all differ
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert view.errors == []
    assert [u for u in view.requests if not u.startswith("file://")] == []


def test_scrolling_renders_rows_as_they_come_into_view(browser: Any, report: Path) -> None:
    view = Page(browser, report)
    page = view.page
    page.eval_on_selector("#table-scroll", "el => { el.scrollTop = el.scrollHeight; }")
    # Sorted by outcome, then node id: the last row is the last passed test by name.
    page.wait_for_selector("#table-body .nodeid[title='t/test_many.py::test_99']")
    assert page.locator("#table-body .row").count() < 100
    assert view.errors == []


@pytest.fixture
def run_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Two CI runs of two shards each in one store (as ``merge`` leaves them); run 8 reported."""
    store = tmp_path / "s.sqlite"
    for hour, run_id in enumerate(("7", "8")):
        for minute, shard in enumerate(("a", "b")):
            results = [make_result(f"t/test_{shard}.py::test_{n}") for n in range(30)]
            if (run_id, shard) == ("8", "b"):
                results[0] = make_result("t/test_b.py::test_0", "failed", message="shard b broke")
            record(store, results, run_id=run_id, provider="github",
                   started=T0 + timedelta(hours=hour, minutes=minute))  # fmt: skip
    out = tmp_path / "run.html"
    assert run(capsys, "--store", str(store), "html", "run:8", "-o", str(out))[0] == 0
    return out


def test_a_logical_run_shows_its_shards_in_a_browser(browser: Any, run_report: Path) -> None:
    view = Page(browser, run_report)
    page = view.page
    assert page.inner_text("h1") == "Run 8"
    assert page.inner_text("#run-sessions") == "3, 4"
    assert page.locator("#shards tbody tr").count() == 2
    counts = page.eval_on_selector_all(
        "#counts .count",
        "els => els.map(e => [e.dataset.outcome, e.querySelector('b').textContent])",
    )
    assert dict(counts)["all"] == "60" and dict(counts)["failed"] == "1"
    # The failure names its shard; the table has a session column to sort by.
    assert "session 4" in page.inner_text("details.failure summary")
    page.click("#table-head button[data-key=session]")  # ascending: shard a first
    first = page.eval_on_selector("#table-body .row", "r => r.children[2].textContent")
    assert first == "3"
    page.click("#table-head button[data-key=session]")
    assert page.eval_on_selector("#table-body .row", "r => r.children[2].textContent") == "4"
    # History: one bar per logical run (two), not per session (four).
    assert page.locator("#chart-outcomes g.bar").count() == 2
    assert "run 8 (sessions 3, 4)" in page.eval_on_selector(
        "#chart-outcomes g.bar:last-of-type title", "t => t.textContent"
    )
    assert view.errors == []
    assert [u for u in view.requests if not u.startswith("file://")] == []
