"""Overhead benchmark: bare pytest vs pytest-testreport on each target, side by side.

    python bench/overhead.py                      # 2,000 tests, 3 alternating rounds, 30 ms latency
    python bench/overhead.py --tests 500 --rounds 1 --big 0      # a quick look
    python bench/overhead.py --big 100000         # plus peak RSS of a 100,000-test run
    python bench/overhead.py --official-buildkite /path/to/venv/bin/python
        # also the official buildkite-test-collector, installed in that interpreter only

Remote targets report to the fake services of the test suite (tests/fakes) on 127.0.0.1, each
answer delayed by ``--latency``. BrowserStack's published budget (1,600 requests per 5 minutes)
cannot carry 2,000 tests (two requests each) in a run's time, so the live rows lift the client
budget (``--browserstack-rate``) to measure the plugin rather than the budget. BrowserStack has a
row per lane (``testreport_browserstack_mode``): ``browserstack`` (live, lifted budget),
``bs-junit`` (one JUnit upload) and ``bs-auto`` (the published budget decides; 2,000 tests go
by upload); ``all`` has every target on (BrowserStack live, lifted budget).
For every configuration it prints the median wall time, the ratio to bare pytest (of the
medians, and "paired": the median of each run's ratio to the bare run just before it, which
cancels the machine's drift), the CPU time the plugin adds per test in the pytest process,
results delivered vs expected, and the time from the end of the last test to process exit.
Run it from the repository root with the project installed (``pip install -e ".[test]"``).
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_testreport.targets import available  # noqa: E402

EXTRA_ENV: dict[str, str] = {}

CONFTEST = """
import time
_last = [0.0]

def pytest_runtest_logfinish(nodeid, location):
    _last[0] = time.time()

def pytest_sessionfinish(session):
    # Runs before the plugin's own (trylast) sessionfinish: the last test is over by now.
    with open("last_test_end.txt", "w") as f:
        f.write(repr(_last[0]))
"""


def write_suite(directory: Path, tests: int, seed: int = 7) -> int:
    """A realistic mix: mostly trivial tests, some sleeping a few ms, a few failing, some steps."""
    rng = random.Random(seed)
    per_file = 100
    for start in range(0, tests, per_file):
        lines = ["import time", "from pytest_testreport import step, metadata", ""]
        for i in range(start, min(start + per_file, tests)):
            kind = rng.random()
            lines.append(f"def test_{i:06d}():")
            if kind < 0.25:
                lines.append(f"    time.sleep({rng.uniform(0.002, 0.005):.4f})")
            if 0.25 <= kind < 0.35:
                lines += ['    with step("arrange", keyword="Given"):', f"        x = {i}",
                          '    with step("act", keyword="When"):', "        x += 1",
                          '    metadata("ticket", "BENCH-1")']  # fmt: skip
            lines.append("    assert False, 'intentional'" if kind > 0.97 else "    pass")
            lines.append("")
        (directory / f"test_bench_{start // per_file:04d}.py").write_text("\n".join(lines))
    (directory / "conftest.py").write_text(CONFTEST)
    return tests


def write_big_suite(directory: Path, tests: int) -> int:
    (directory / "test_big.py").write_text(
        f"import pytest\n\n@pytest.mark.parametrize('i', range({tests}))\ndef test_big(i):\n"
        "    pass\n"
    )
    (directory / "conftest.py").write_text(CONFTEST)
    return tests


@dataclass
class Run:
    wall: float
    cpu: float
    max_rss_kb: int
    tail: float  # last test end -> process exit
    delivered: int
    delivery_rss_kb: int = 0  # peak RSS of the delivery process, when there is one


@dataclass
class Config:
    name: str
    args: list[str]
    start: Callable[[float], dict[str, str]] = lambda latency: {}
    count: Callable[[Path], int] = lambda cwd: -1
    stop: Callable[[], None] = lambda: None
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)  # over EXTRA_ENV, for this row only
    runs: list[Run] = field(default_factory=list)
    paired: list[float] = field(default_factory=list)  # wall / wall of the bare run just before


def _local_count(cwd: Path) -> int:
    path = cwd / ".testreport" / "results.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT count(*) FROM results WHERE session_id = "
                           "(SELECT max(id) FROM sessions)").fetchone()  # fmt: skip
    return int(row[0])


class _Fakes:
    """Starts the fake services once per configuration that needs them."""

    def __init__(self) -> None:
        self.running: dict[str, Any] = {}

    def start(self, target: str, latency: float) -> dict[str, str]:
        from tests.fakes import FakeBrowserStack, FakeBuddy, FakeBuildkite
        from tests.fakes.plugin import (
            BROWSERSTACK_ACCESS_KEY,
            BROWSERSTACK_USERNAME,
            BUDDY_PAT,
            BUDDY_TOKEN,
            BUILDKITE_API_TOKEN,
            BUILDKITE_TOKEN,  # fmt: skip
        )

        makers = {
            "buddy": lambda: FakeBuddy(BUDDY_TOKEN, pat=BUDDY_PAT),
            "browserstack": lambda: FakeBrowserStack(
                BROWSERSTACK_USERNAME, BROWSERSTACK_ACCESS_KEY, rate_limit=None
            ),
            "buildkite": lambda: FakeBuildkite(BUILDKITE_TOKEN, BUILDKITE_API_TOKEN),
        }
        fake = makers[target]()
        fake.latency(latency)
        self.running[target] = fake
        return dict(fake.env())

    def count(self, target: str) -> int:
        fake = self.running[target]
        if target == "buddy":
            return sum(len(s.cases) for s in fake.sessions.values())
        if target == "browserstack":  # finished live runs, and test cases uploaded
            live = sum(
                1 for b in fake.builds.values() for t in b.tests.values() if t.finish is not None
            )
            return live + sum(len(u.testcases()) for u in fake.uploads)
        return len({e.execution_id for e in fake.executions})

    def stop(self) -> None:
        for fake in self.running.values():
            fake.stop()
        self.running.clear()


def official_buildkite(fakes: _Fakes, python: str) -> Config:
    """Buildkite's own collector (plugin ``buildkite-test-collector``) in another interpreter.

    Ours is kept out (``-p no:testreport``); the suite still imports our author API from the
    repository, which then does nothing (as in the bare run).
    """

    def start(latency: float) -> dict[str, str]:
        env = fakes.start("buildkite", latency)
        return {k: v for k, v in env.items() if k.startswith("BUILDKITE_ANALYTICS_")}

    return Config("bk-official", ["-p", "no:testreport"], start=start,
                  count=lambda cwd: fakes.count("buildkite"), stop=fakes.stop,
                  python=python)  # fmt: skip


def configs(fakes: _Fakes, targets: list[str]) -> list[Config]:
    out = [Config("bare", ["-p", "no:testreport"])]
    for target in targets:
        if target == "local":
            out.append(Config("local", ["--testreport=local"], count=_local_count))
            continue
        out.append(
            Config(
                target,
                [f"--testreport={target}"],
                start=lambda lat, t=target: fakes.start(t, lat),
                count=lambda cwd, t=target: fakes.count(t),
                stop=fakes.stop,
                env={"TESTREPORT_BROWSERSTACK_MODE": "live"} if target == "browserstack" else {},
            )
        )
        if target == "browserstack":
            out.extend(_browserstack_lanes(fakes))
    if len(targets) > 1:
        remote = [t for t in targets if t != "local"]

        def start_all(latency: float) -> dict[str, str]:
            env: dict[str, str] = {}
            for t in remote:
                env.update(fakes.start(t, latency))
            return env

        def count_all(cwd: Path) -> int:
            local = [_local_count(cwd)] if "local" in targets else []
            return min(local + [fakes.count(t) for t in remote])

        # "all": BrowserStack live with the lifted budget; "all-auto": as users run it, the
        # default lane under the published budget (2,000 tests go by upload).
        for name, env in (
            ("all", {"TESTREPORT_BROWSERSTACK_MODE": "live"}),
            ("all-auto", {"TESTREPORT_BROWSERSTACK_MODE": "auto",
                          "TESTREPORT_BROWSERSTACK_RATE_LIMIT": "1600/300"}),
        ):  # fmt: skip
            if name == "all-auto" and "browserstack" not in remote:
                continue
            out.append(Config(name, [f"--testreport={','.join(targets)}"], start=start_all,
                              env=env, count=count_all, stop=fakes.stop))  # fmt: skip
    return out


def _browserstack_lanes(fakes: _Fakes) -> list[Config]:
    """BrowserStack's other lanes: one JUnit upload, and auto under the published budget."""
    return [
        Config(name, ["--testreport=browserstack"],
               start=lambda lat: fakes.start("browserstack", lat),
               count=lambda cwd: fakes.count("browserstack"), stop=fakes.stop, env=env)
        for name, env in (
            ("bs-junit", {"TESTREPORT_BROWSERSTACK_MODE": "junit"}),
            ("bs-auto", {"TESTREPORT_BROWSERSTACK_MODE": "auto",
                         "TESTREPORT_BROWSERSTACK_RATE_LIMIT": "1600/300"}),
        )
    ]  # fmt: skip


class DeliveryWatch(threading.Thread):
    """Peak RSS (KiB) of the delivery process a pytest process starts (Linux /proc)."""

    MARK = b"pytest_testreport.engine.child"

    def __init__(self, parent: int) -> None:
        super().__init__(daemon=True)
        self.parent = parent
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for pid in self._children():
                self.peak_kb = max(self.peak_kb, self._hwm(pid))

    def _children(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if self.MARK in (entry / "cmdline").read_bytes():
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == self.parent:
                        found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
        return found

    @staticmethod
    def _hwm(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0


def run_pytest(cwd: Path, args: list[str], env: dict[str, str],
               python: str = sys.executable) -> tuple[float, float, int, int]:  # fmt: skip
    """Wall time, CPU time (with the delivery process) and peak RSS (KiB) of pytest and of
    its delivery process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    watch = DeliveryWatch(proc.pid)
    if Path("/proc/self/status").exists():
        watch.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    watch.done.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pytest {' '.join(args)} exited {proc.returncode}")
    # wait4's peak is the largest of pytest and the descendants it reaped: pytest's own
    # is at least as large as its delivery process's in every run measured here.
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, watch.peak_kb


@contextmanager
def fresh_dir(suite: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="testreport-bench-") as tmp:
        cwd = Path(tmp)
        for path in suite.iterdir():
            (cwd / path.name).write_bytes(path.read_bytes())
        yield cwd


def measure(config: Config, suite: Path, latency: float) -> Run:
    ours = ("TESTREPORT", "BUDDY_", "BROWSERSTACK_", "BUILDKITE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(config.start(latency))
    env.update(EXTRA_ENV)
    env.update(config.env)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure an installed plugin: bytecode cached
    try:
        with fresh_dir(suite) as cwd:
            wall, cpu, rss, child_rss = run_pytest(cwd, config.args, env, config.python)
            exited = time.time()
            tail = exited - float((cwd / "last_test_end.txt").read_text())
            delivered = config.count(cwd)
    finally:
        config.stop()
    return Run(wall, cpu, rss, tail, delivered, child_rss)


def report(all_configs: list[Config], tests: int) -> None:
    bare = all_configs[0]
    bare_wall = statistics.median(r.wall for r in bare.runs)
    bare_cpu = statistics.median(r.cpu for r in bare.runs)
    print(f"\n{'config':<14}{'wall (median)':>14}{'ratio':>8}{'paired':>8}{'cpu/test +':>13}"
          f"{'delivered':>14}{'last test->exit':>17}")  # fmt: skip
    for config in all_configs:
        wall = statistics.median(r.wall for r in config.runs)
        cpu = statistics.median(r.cpu for r in config.runs)
        tail = statistics.median(r.tail for r in config.runs)
        added = (cpu - bare_cpu) / tests * 1e6
        delivered = (
            "-" if config.name == "bare" else f"{min(r.delivered for r in config.runs)}/{tests}"
        )
        paired = f"{statistics.median(config.paired):.3f}" if config.paired else "-"
        print(f"{config.name:<14}{wall:>13.2f}s{wall / bare_wall:>8.3f}{paired:>8}{added:>10.0f} us"
              f"{delivered:>14}{tail:>16.2f}s")  # fmt: skip


def big_run(tests: int, targets: list[str], latency: float) -> None:
    fakes = _Fakes()
    wanted = {"bare", "local", "all", *(targets if len(targets) == 1 else ())}
    chosen = [c for c in configs(fakes, targets) if c.name in wanted]
    print(f"  (targets: {', '.join(targets)})")
    with tempfile.TemporaryDirectory(prefix="testreport-big-") as tmp:
        suite = Path(tmp)
        write_big_suite(suite, tests)
        print(f"\n{tests:,} trivial tests, once each:")
        rss = {}
        for config in chosen:
            run = measure(config, suite, latency)
            rss[config.name] = run.max_rss_kb
            delivered = "" if config.name == "bare" else f", delivered {run.delivered:,}/{tests:,}"
            growth = (run.max_rss_kb - rss["bare"]) / 1024
            peak = run.max_rss_kb / 1024
            child = (f", delivery process peak {run.delivery_rss_kb / 1024:.1f} MB"
                     if run.delivery_rss_kb else "")  # fmt: skip
            print(f"  {config.name:<8} wall {run.wall:7.1f}s  pytest peak RSS {peak:7.1f} MB"
                  f"  (+{growth:5.1f} MB){child}{delivered}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.030, help="seconds per request")
    parser.add_argument("--targets", default=",".join(available()))
    parser.add_argument("--big", type=int, default=100_000, help="0 to skip the big run")
    parser.add_argument(
        "--big-targets",
        default="local,buddy,buildkite",
        help="targets of the big run (BrowserStack sends one request per event)",
    )
    parser.add_argument(
        "--official-buildkite",
        metavar="PYTHON",
        help="an interpreter with buildkite-test-collector installed",
    )
    parser.add_argument("--browserstack-rate", default="100000/60",
                        help="client budget for BrowserStack in this benchmark")  # fmt: skip
    args = parser.parse_args()
    EXTRA_ENV["TESTREPORT_BROWSERSTACK_RATE_LIMIT"] = args.browserstack_rate
    # As pip does on install: otherwise the first runs would pay for compiling the package.
    compileall.compile_dir(ROOT / "pytest_testreport", quiet=1)
    targets = [t for t in args.targets.split(",") if t]
    fakes = _Fakes()
    all_configs = configs(fakes, targets)
    if args.official_buildkite:
        all_configs.append(official_buildkite(fakes, args.official_buildkite))
    with tempfile.TemporaryDirectory(prefix="testreport-suite-") as tmp:
        suite = Path(tmp)
        tests = write_suite(suite, args.tests)
        print(f"{tests:,} tests, {args.rounds} rounds, {args.latency * 1000:.0f} ms latency, "
              f"targets: {', '.join(targets)}")  # fmt: skip
        bare, others = all_configs[0], all_configs[1:]
        for round_number in range(args.rounds):
            # Each configuration right after a bare run of its own: the machine's speed drifts
            # (a shared VM), and a ratio of neighbours cancels most of that drift.
            for config in others if round_number % 2 == 0 else list(reversed(others)):
                base = measure(bare, suite, args.latency)
                bare.runs.append(base)
                run = measure(config, suite, args.latency)
                config.runs.append(run)
                config.paired.append(run.wall / base.wall)
            print(f"  round {round_number + 1} done")
        report(all_configs, tests)
    if args.big:
        big_targets = [t for t in args.big_targets.split(",") if t in available()]
        big_run(args.big, big_targets, args.latency)


if __name__ == "__main__":
    main()
