"""``pytest-testreport durations``: the durations file ``--testreport-durations`` reads.

It writes what ``--testreport-shard`` would plan with from the local store, in the shape
pytest-split writes (``{nodeid: seconds}``), for CI machines that do not get the store.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .durations import DEFAULT_LAST, store_durations, write_durations


def add_verbs(verbs: Any) -> None:
    """Register ``durations`` on the CLI's sub-parsers (cli.build_parser)."""
    text = "write each test's planned duration (for --testreport-durations) from the store"
    sub = verbs.add_parser("durations", help=text, description=text)
    sub.add_argument("-o", "--output", metavar="PATH", default=None,
                     help="the JSON file to write (default: print it)")  # fmt: skip
    sub.add_argument("--branch", metavar="B", default=None,
                     help="prefer this branch's history (others fill the gaps)")  # fmt: skip
    sub.add_argument(
        "--last",
        type=_positive,
        default=DEFAULT_LAST,
        metavar="N",
        help=f"median of each test's last N passing attempts ({DEFAULT_LAST})",
    )
    sub.add_argument("--store", metavar="PATH", default=argparse.SUPPRESS,
                     help="the local store (as for the other verbs)")  # fmt: skip
    sub.set_defaults(run=cmd_durations)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more: {text!r}")
    return int(text)


def cmd_durations(args: argparse.Namespace) -> int:
    from .targets.local.reader import find_store

    store = find_store(Path.cwd(), args.store, os.environ)
    durations = store_durations(store, args.branch, args.last)
    if args.output is None:
        json.dump(dict(sorted(durations.items())), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    path = Path(args.output).expanduser()
    try:
        write_durations(path, durations)
    except OSError as exc:
        print(f"pytest-testreport: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote the durations of {len(durations)} tests to {path}", file=sys.stderr)
    return 0
