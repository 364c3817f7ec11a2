"""The CLI verbs that write the local store from outside a run: ``import`` and ``merge``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .importing import Origin, import_file
from .layout import plural
from .merging import merge_stores
from .targets.local.reader import ENV_PATH, StoreNotFound, find_store
from .targets.local.target import DEFAULT_PATH


def store_to_write(explicit: str | None) -> Path:
    """The store to write: ``--store``, ``TESTREPORT_LOCAL_PATH``, the one found upwards, or a
    new ``.testreport/results.sqlite`` here."""
    cwd = Path.cwd()
    wanted = explicit or os.environ.get(ENV_PATH, "").strip()
    if wanted:
        path = cwd / Path(wanted).expanduser()
        return path / DEFAULT_PATH.name if path.is_dir() else path
    try:
        return find_store(cwd, None, {})
    except StoreNotFound:
        return cwd / DEFAULT_PATH


def _print(args: argparse.Namespace, data: list[dict[str, Any]], lines: list[str]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else "\n".join(lines))


def cmd_import(args: argparse.Namespace) -> int:
    store = store_to_write(args.store)
    origin = Origin(args.branch, args.revision, args.run_id, Path(args.rootdir or Path.cwd()))
    done = [import_file(store, Path(name), origin) for name in args.files]
    lines = []
    for item in done:
        if item.status == "imported":
            counts = item.counts
            lines.append(
                f"{item.file}: session {item.session}, {counts['tests_count']} tests, "
                f"{counts['failed_count']} failed, {plural(counts['error_count'], 'error')}, "
                f"{counts['skipped_count']} skipped"
            )
        elif item.status == "present":
            lines.append(f"{item.file}: imported before, as session {item.session}; nothing added")
    _print(args, [item.to_json() for item in done], [*lines, f"store: {store}"])
    for item in done:
        if item.error:
            print(f"pytest-testreport: {item.error}", file=sys.stderr)
    return 1 if any(item.status == "error" for item in done) else 0


def cmd_merge(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else store_to_write(args.store)
    # A ``.testreport`` directory stands for the store in it, as with ``--store``.
    sources = [p / DEFAULT_PATH.name if p.is_dir() else p for p in map(Path, args.stores)]
    merged = merge_stores(sources, output)
    lines = [f"{m.store}: {m.added} sessions added, {m.present} already there" for m in merged]
    _print(args, [m.to_json() for m in merged], [*lines, f"store: {output}"])
    return 0


def add_store_verbs(verbs: Any) -> None:
    """Register ``import`` and ``merge`` on the CLI's subparsers."""
    text = "read JUnit XML files into the local store, one session per file"
    sub = verbs.add_parser("import", help=text, description=text)
    sub.add_argument("files", metavar="FILE", nargs="+", help="JUnit XML files")
    sub.add_argument("--branch", metavar="B", help="record the sessions on branch B")
    sub.add_argument("--revision", metavar="SHA", help="record the sessions at this revision")
    sub.add_argument("--run-id", metavar="ID", help="the CI run the files came from")
    sub.add_argument("--rootdir", metavar="DIR", help="where to look up test modules (here)")
    sub.set_defaults(run=cmd_import)
    text = "copy the sessions of several stores (e.g. CI shards) into one"
    merge = verbs.add_parser("merge", help=text, description=text)
    merge.add_argument("stores", metavar="STORE", nargs="+", help="stores to read (never changed)")
    merge.add_argument("-o", "--output", metavar="STORE", default=None,
                       help="the store to write (default: the local store)")  # fmt: skip
    merge.set_defaults(run=cmd_merge)
    for parser in (sub, merge):
        parser.add_argument("--store", metavar="PATH", default=argparse.SUPPRESS,
                            help="the local store to write (created when missing)")  # fmt: skip
        parser.add_argument("--json", action="store_true", help="print JSON")
