"""The feeder's work per test, alone and profiled: read reports, count, pickle frames.

    python bench/feeder_profile.py                 # 5,000 trivial tests' reports, timed
    python bench/feeder_profile.py --profile       # and where the time goes (cProfile)

Runs a trivial suite in this process (bare pytest) and keeps its reports, then feeds them
through what the controller's feeder thread does with them (feeder.py ``Feeder.take`` with the
controller's ``ReportReader``, and process.py's ledger and frame), with no pytest around, so
that a profile shows the feeder's own cost per test and nothing else.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_testreport.api import EXTRA_ATTR  # noqa: E402
from pytest_testreport.engine.ledger import Ledger  # noqa: E402
from pytest_testreport.engine.process import write_frame  # noqa: E402
from pytest_testreport.feeder import CHUNK, Feeder, ReportReader  # noqa: E402
from pytest_testreport.model import Session  # noqa: E402
from pytest_testreport.reports import ResultAssembler  # noqa: E402
from pytest_testreport.runner import Runner  # noqa: E402


class _Keep:
    def __init__(self) -> None:
        self.reports: list[Any] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.reports.append(report)


class _Pipe:
    """What the feeder hands a frame to: the ledger and a pipe (here, memory)."""

    def __init__(self) -> None:
        self.ledger = Ledger(["local"])
        self.out = io.BytesIO()
        self.session = Session()

    def submit_items(self, items: list[Any]) -> None:
        if items:
            first, data = self.ledger.add(items)
            write_frame(self.out, ("items", first, data, {}))
            self.ledger.clear()
            self.out.seek(0)
            self.out.truncate()


def reports(tests: int) -> list[Any]:
    with tempfile.TemporaryDirectory(prefix="testreport-feeder-") as tmp:
        path = Path(tmp) / "test_cpu.py"
        path.write_text(
            f"import pytest\n\n@pytest.mark.parametrize('i', range({tests}))\n"
            "def test_cpu(i):\n    pass\n"
        )
        keep, runner = _Keep(), Runner(attach=True)  # the plugin's runner role: our data on
        pytest.main([str(path), "-q", "-p", "no:cacheprovider", "-p", "no:testreport"],
                    plugins=[keep, runner, runner.details])  # fmt: skip
    return [(report, vars(report).get(EXTRA_ATTR)) for report in keep.reports]


def feed(entries: list[Any]) -> None:
    """What the feeder does with these reports (each gets our data back, which reading takes)."""
    for report, extra in entries:
        if extra is not None:
            setattr(report, EXTRA_ATTR, extra)
    _feed([report for report, _ in entries])


def _feed(entries: list[Any]) -> None:
    pipe = _Pipe()
    read = ReportReader(ResultAssembler(), live_starts=False, on_result=lambda r: None)
    feeder = Feeder(pipe, read)  # type: ignore[arg-type]
    for entry in entries:
        feeder.put(entry)
    while feeder._queue:
        pipe.submit_items(feeder.take(CHUNK))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    entries = reports(args.tests)
    best = min(_timed(entries) for _ in range(args.rounds))
    print(f"feeder: {best / args.tests * 1e6:.1f} µs per test (best of {args.rounds})")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(feed, entries)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


def _timed(entries: list[Any]) -> float:
    started = time.process_time()
    feed(entries)
    return time.process_time() - started


if __name__ == "__main__":
    main()
