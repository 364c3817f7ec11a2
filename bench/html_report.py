"""HTML report at scale: a store with a 100,000-test session, its report, and a browser opening it.

    python bench/html_report.py                          # 100,000 tests, 3 sessions of history
    python bench/html_report.py --tests 20000 --sessions 1   # a quick look
    python bench/html_report.py --keep DIR               # keep the store and report in DIR

Writes the store through the real ``LocalTarget`` (about 2 % of the tests fail, 3 % are skipped,
some have tracebacks and captured output), builds the report with ``pytest-testreport html``
and opens it in the system's Chromium through Playwright (never a downloaded browser). It
prints the report's size, how long building it took, and in the browser: the time from
navigation to the first table rows, to filter on one outcome, to search, and the number of
table rows in the DOM. Run it from the repository root with the project installed with its
test extra (``pip install -e ".[test]"``) and Chromium from the system packages.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_testreport.ci import CIInfo  # noqa: E402
from pytest_testreport.model import Failure, Outcome, Session, TestId, TestResult  # noqa: E402
from pytest_testreport.targets.local.target import LocalTarget  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
TRACEBACK = [
    "    def test_case(value):",
    ">       assert compute(value) == expected(value)",
    "E       assert 41 == 42",
    "E        +  where 41 = compute(7)",
    "",
    "tests/test_module.py:12: AssertionError",
]


def result(i: int, rng: random.Random, start: datetime) -> TestResult:
    nodeid = (
        f"tests/pkg_{i % 97}/test_module_{i % 1013}.py::TestGroup::test_case_{i}[param-{i % 7}]"
    )
    roll = rng.random()
    outcome = "failed" if roll < 0.02 else "skipped" if roll < 0.05 else "passed"
    duration = rng.expovariate(20)
    failure = None
    if outcome == "failed":
        failure = Failure(message="AssertionError: assert 41 == 42", phase="call",
                          traceback=TRACEBACK)  # fmt: skip
    made = TestResult(
        test=TestId(nodeid=nodeid, path=nodeid.split("::")[0], line=12,
                    name=nodeid.split("::")[-1]),
        outcome=Outcome(outcome), failures=[failure] if failure else [], duration=duration,
        started_at=start,
        finished_at=start + timedelta(seconds=duration),
        reason="not on this platform" if outcome == "skipped" else None,
    )  # fmt: skip
    if failure is not None:
        made.stdout = "computing 7\n" * 5
    return made


def write_store(path: Path, tests: int, sessions: int) -> None:
    for s in range(sessions):
        rng = random.Random(s)
        start = T0 + timedelta(hours=s)
        session = Session(started_at=start, ci=CIInfo(provider="none", branch="main",
                                                       revision=f"{s:040x}"))  # fmt: skip
        target = LocalTarget(path)
        target.open_session(session)
        batch: list[TestResult] = []
        for i in range(tests):
            batch.append(result(i, rng, start))
            if len(batch) == 5000:
                target.send_batch(session, batch, {})
                for item in batch:
                    session.count(item)
                batch = []
        target.send_batch(session, batch, {})
        for item in batch:
            session.count(item)
        session.finish(None)
        session.finished_at = start + timedelta(minutes=20)
        target.close_session(session)
        print(f"  session {s + 1}/{sessions} written", file=sys.stderr)


def chromium() -> str:
    found = os.environ.get("TESTREPORT_CHROMIUM") or shutil.which("chromium")
    if not found:
        sys.exit("no chromium: apt-get install chromium")
    return found


def measure(report: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    # Functions, not expressions: the page's CSP forbids eval, which expressions would need.
    wait = "text => document.getElementById('shown-count').textContent === text"
    wait_of = "() => document.getElementById('shown-count').textContent.includes(' of ')"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        began = time.perf_counter()
        page.goto(report.resolve().as_uri())
        page.wait_for_selector("#table-body .row")
        opened = time.perf_counter() - began
        total = page.inner_text("#shown-count")
        failed = page.eval_on_selector(
            "#filters input[value=failed]", "e => e.parentNode.textContent"
        )
        began = time.perf_counter()
        for outcome in ("passed", "skipped"):
            page.uncheck(f"#filters input[value={outcome}]")
        page.wait_for_function(wait, arg=f"{failed.split()[-1]} of {total}")
        filtered = time.perf_counter() - began
        page.check("#filters input[value=passed]")
        page.check("#filters input[value=skipped]")
        began = time.perf_counter()
        page.fill("#search", "test_module_1012.py")
        page.wait_for_function(wait_of)
        searched = time.perf_counter() - began  # includes the 120 ms debounce
        rows = page.locator("#table-body .row").count()
        browser.close()
    if errors:
        sys.exit(f"page errors: {errors}")
    return {"open": opened, "filter": filtered, "search": searched, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=3, help="sessions in the store (3)")
    parser.add_argument("--keep", metavar="DIR", help="write into DIR and keep it")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="html-bench-"))
    try:
        store = work / ".testreport" / "results.sqlite"
        if not store.exists():
            write_store(store, args.tests, args.sessions)
        report = work / "report.html"
        began = time.perf_counter()
        cli = "import sys; from pytest_testreport.cli import main; sys.exit(main())"
        subprocess.run([sys.executable, "-c", cli, "--store", str(store), "html", "-o",
                        str(report)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        built = time.perf_counter() - began
        numbers = measure(report)
        size = report.stat().st_size / 1e6
        print(f"tests {args.tests:,} · sessions {args.sessions} · report {size:.1f} MB · "
              f"built in {built:.1f} s")  # fmt: skip
        print(f"browser: first rows {numbers['open']:.2f} s · outcome filter "
              f"{numbers['filter']:.2f} s · search {numbers['search']:.2f} s · "
              f"{numbers['rows']:.0f} table rows in the DOM")  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
