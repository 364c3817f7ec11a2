"""``pytest-testreport store check`` and ``store repair``: the local store's own CLI verbs.

``check`` exits 0 for a healthy store and 1, with one line saying why, for a damaged one.
``repair`` moves a damaged store aside (``results.sqlite.damaged-<UTC time>``) and salvages
what SQLite can still read into a new store at the same path.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .reader import find_store
from .repair import Repair, Salvage, health, repair


def add_commands(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    text = "check the local store, or repair a damaged one"
    store = verbs.add_parser("store", help=text, description=text)
    commands = store.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    for name, run, text in (
        ("check", _cmd_check, "exit 0 if the store is healthy, 1 (saying why) if damaged"),
        ("repair", _cmd_repair, "move a damaged store aside and salvage it into a new one"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument(
            "--store", metavar="PATH", default=argparse.SUPPRESS,
            help="the local store (default: $TESTREPORT_LOCAL_PATH, or "
            ".testreport/results.sqlite in this directory or a parent)",
        )  # fmt: skip
        sub.set_defaults(run=run)


def _store(args: argparse.Namespace) -> Path:
    return find_store(Path.cwd(), getattr(args, "store", None), os.environ)


def _cmd_check(args: argparse.Namespace) -> int:
    print(health(_store(args)))  # a damaged store raises: the CLI prints it and exits 1
    return 0


def _cmd_repair(args: argparse.Namespace) -> int:
    path = _store(args)
    done = repair(path)
    if done is None:
        print(f"the store at {path} is healthy; nothing to repair")
        return 0
    print("\n".join(report_lines(done)))
    return 0


def report_lines(done: Repair) -> list[str]:
    """What ``repair`` did, table by table."""
    lines = [
        f"the store at {done.path} was damaged ({done.reason})",
        f"moved it to {done.moved_to}; salvaged what SQLite could read into a new store:",
    ]
    lines += [f"  {_table_line(salvage)}" for salvage in done.tables]
    lines.append("then store what runs spooled meanwhile: pytest-testreport replay --target local")
    return lines


def _table_line(salvage: Salvage) -> str:
    name = f"{salvage.table:<9}"
    if salvage.missing or (salvage.copied == 0 and salvage.lost_after == 0):
        return f"{name} unreadable: nothing salvaged"
    line = f"{name} {salvage.copied} salvaged, {salvage.lost} lost"
    if salvage.lost_after is not None:
        line += f" (unreadable from id {salvage.lost_after + 1} to the end)"
    return line
