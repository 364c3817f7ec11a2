"""Instructions per test in the pytest process, counted by callgrind: repeatable under load.

    python bench/callgrind.py                      # 200 and 1,200 trivial tests, bare and local
    python bench/callgrind.py --small 100 --large 600

CPU time on a shared machine wanders with the load; an instruction count does not. Each
configuration runs under ``valgrind --tool=callgrind`` (the pytest process only, not the
delivery process it starts) with ``--small`` and ``--large`` trivial tests; the difference of
the two counts, divided by the difference of the sizes, is the per-test count without the
start-up. Reported: instructions per test, what the plugin adds to bare pytest, and how the
added count splits between the test's thread (the main thread) and the plugin's threads (the
feeder, the listener of the delivery process; with ``thread`` delivery, the senders too).
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "bare": ["-p", "no:testreport"],
    "process": ["--testreport=local", "--testreport-delivery=process"],
    "thread": ["--testreport=local", "--testreport-delivery=thread"],
}
TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def instructions(args: list[str], tests: int, python: str) -> tuple[int, int]:
    """Instructions of one pytest run of ``tests`` trivial tests: the main thread, the others."""
    with tempfile.TemporaryDirectory(prefix="testreport-callgrind-") as tmp:
        cwd = Path(tmp)
        (cwd / "test_cpu.py").write_text(
            f"import pytest\n\n@pytest.mark.parametrize('i', range({tests}))\n"
            "def test_cpu(i):\n    pass\n"
        )
        ours = ("TESTREPORT", "BUDDY_", "BROWSERSTACK_", "BUILDKITE_", "GITHUB_", "CI")
        env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        env["PYTHONPATH"] = str(ROOT)
        out = cwd / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--trace-children=no",
             "--separate-threads=yes",
             python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        counts = []  # one file per thread, the main thread first: callgrind.out-01, -02, ...
        for path in sorted(cwd.glob("callgrind.out-*")):
            found = TOTALS.search(path.read_bytes())
            counts.append(int(found.group(1)) if found else 0)
        assert counts, "callgrind wrote no totals"
        return counts[0], sum(counts[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--only", default="", help="configurations besides bare (comma separated)")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    # As pip does on install: a run that compiles the package would count that as start-up of
    # one size and not the other.
    compileall.compile_dir(ROOT / "pytest_testreport", quiet=1)
    names = ["bare", *(args.only.split(",") if args.only else [n for n in CONFIGS if n != "bare"])]
    per_test: dict[str, tuple[float, float]] = {}
    for name in names:
        small = instructions(CONFIGS[name], args.small, args.python)
        large = instructions(CONFIGS[name], args.large, args.python)
        tests = args.large - args.small
        per_test[name] = ((large[0] - small[0]) / tests, (large[1] - small[1]) / tests)
    bare = sum(per_test["bare"])
    print(f"callgrind, {args.small} vs {args.large} trivial tests; instructions per test")
    print(f"{'config':<10}{'per test':>12}{'added':>12}{'added %':>10}{'test thread':>14}"
          f"{'others':>10}")  # fmt: skip
    for name, (main, others) in per_test.items():
        added = main + others - bare
        print(
            f"{name:<10}{main + others:>12,.0f}{added:>12,.0f}{added / bare * 100:>9.1f}%"
            f"{main - per_test['bare'][0]:>14,.0f}{others - per_test['bare'][1]:>10,.0f}"
        )


if __name__ == "__main__":
    main()
