"""CPU per test, per process: what the plugin costs a CPU-bound suite, measured under load.

    python bench/cpu.py                          # 20,000 trivial tests, 3 rounds
    python bench/cpu.py --tests 5000 --rounds 1  # a quick look

Wall time says little on a machine that others load at the same time; CPU time does. Each run
is one parametrized test of ``--tests`` trivial cases (the worst case: pytest itself spends
little per test, so everything the plugin adds shows). A conftest writes, at the very end of
the pytest process (``pytest_unconfigure``, after the plugin's own session finish), the CPU
time of the pytest process (user + sys) and of the children it reaped: the delivery process
(and any CI-detection subprocess). Reported: CPU µs per test added to bare pytest in the
pytest process, and the delivery process's CPU µs per test (medians of the rounds).
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import EXTRA_ENV, ROOT, Config, _Fakes, configs, fresh_dir

CONFTEST = """
import json, resource

def pytest_unconfigure(config):
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open("cpu.json", "w") as f:
        json.dump({"self": own.ru_utime + own.ru_stime,
                   "children": children.ru_utime + children.ru_stime}, f)
"""


def write_suite(directory: Path, tests: int) -> None:
    (directory / "test_cpu.py").write_text(
        f"import pytest\n\n@pytest.mark.parametrize('i', range({tests}))\ndef test_cpu(i):\n"
        "    pass\n"
    )
    (directory / "conftest.py").write_text(CONFTEST)


def measure(config: Config, suite: Path, latency: float) -> tuple[float, float]:
    """CPU seconds of the pytest process and of its children, for one run."""
    import os
    import subprocess

    ours = ("TESTREPORT", "BUDDY_", "BROWSERSTACK_", "BUILDKITE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(config.start(latency))
    env.update(EXTRA_ENV)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        with fresh_dir(suite) as cwd:
            subprocess.run(
                [config.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *config.args],
                cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                check=False,
            )  # fmt: skip
            cpu = json.loads((cwd / "cpu.json").read_text())
    finally:
        config.stop()
    return cpu["self"], cpu["children"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.030, help="seconds per request")
    parser.add_argument("--targets", default="local,buddy,buildkite")
    parser.add_argument("--only", default="", help="configurations to run (comma separated)")
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "pytest_testreport", quiet=1)
    targets = [t for t in args.targets.split(",") if t]
    chosen = configs(_Fakes(), targets)
    if args.only:
        chosen = [c for c in chosen if c.name == "bare" or c.name in args.only.split(",")]
    runs: dict[str, list[tuple[float, float]]] = {c.name: [] for c in chosen}
    with tempfile.TemporaryDirectory(prefix="testreport-cpu-") as tmp:
        suite = Path(tmp)
        write_suite(suite, args.tests)
        for _ in range(args.rounds):
            for config in chosen:
                runs[config.name].append(measure(config, suite, args.latency))
    tests = args.tests
    bare = statistics.median(own for own, _ in runs["bare"])
    print(f"{tests:,} trivial tests, {args.rounds} rounds; CPU µs per test (median)")
    print(f"{'config':<10}{'pytest':>10}{'added':>10}{'delivery':>10}")
    for name, samples in runs.items():
        own = statistics.median(s for s, _ in samples)
        child = statistics.median(c for _, c in samples)
        print(
            f"{name:<10}{own / tests * 1e6:>10.0f}{(own - bare) / tests * 1e6:>10.0f}"
            f"{child / tests * 1e6:>10.0f}"
        )


if __name__ == "__main__":
    main()
