"""``pytest-testreport``: recorded runs (``list``, ``show``, ``failed``, ``flaky``, ``slow``,
``history``), ``replay`` of spooled items, and each target's own helpers (e.g. ``buddy open``).

Exit codes: 0 success, 1 a runtime failure (unknown session, no store, a store from a newer
plugin), 2 bad usage. Expected failures print one line to stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from . import __version__
from .cli_read import (
    PROG,
    cmd_failed,
    cmd_flaky,
    cmd_history,
    cmd_html,
    cmd_list,
    cmd_show,
    cmd_slow,
    readers,
)
from .cli_store import add_store_verbs
from .config import read_ini, settings_from_env
from .engine.errors import DeliveryError
from .engine.replay import SPOOL_ENV, SpoolNotFound, find_spool, replay
from .engine.scrub import settings_secrets
from .engine.secrets import mask
from .reading import LATEST, NotFound, Reader, Unsupported
from .targets import BadTarget, available, install, specs, target_class
from .targets.local.target import StoreError


def _ini_spool(cwd: Path) -> Optional[str]:
    """``testreport_spool_dir`` from the nearest project ini file, as a path from there."""
    for directory in (cwd, *cwd.parents):
        value = read_ini(directory).get("testreport_spool_dir")
        if value:
            return str(directory / Path(value).expanduser())
    return None


def cmd_replay(args: argparse.Namespace) -> int:
    explicit = args.spool or (None if os.environ.get(SPOOL_ENV) else _ini_spool(Path.cwd()))
    spool = find_spool(Path.cwd(), explicit, os.environ)
    # The spool lives in <rootdir>/.testreport/spool: relative options resolve against rootdir.
    settings = settings_from_env(os.environ, spool.parent.parent)
    wanted = args.replay_target or (args.target if args.target != "local" else None)

    def make_target(name: str, env: Any) -> Any:
        return target_class(name).from_settings(settings)

    return replay(spool, make_target, target=wanted, dry_run=args.dry_run)


# -- arguments --------------------------------------------------------------------------------


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for whole numbers from ``minimum`` up."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more: {text}")
        return value

    return parse


def _add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before and after the verb; the verb's copy must not reset the global one.
    default: Any = argparse.SUPPRESS
    parser.add_argument(
        "--store", metavar="PATH", default=None if top else default,
        help="the local store (default: $TESTREPORT_LOCAL_PATH, or .testreport/results.sqlite "
        "in this directory or a parent)",
    )  # fmt: skip
    parser.add_argument(
        "--target", choices=sorted(readers()), default="local" if top else default,
        help="where to read from (default: local)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Look at recorded pytest runs.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_common(parser, top=True)
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def verb(name: str, handler: Callable[[Reader, argparse.Namespace], int], text: str) -> Any:
        sub = verbs.add_parser(name, help=text, description=text)
        _add_common(sub, top=False)
        sub.add_argument("--branch", metavar="B", help="only sessions on branch B")
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.set_defaults(handler=handler)
        return sub

    sub = verb("list", cmd_list, "list sessions, newest first")
    sub.add_argument("--page", type=_at_least(1), default=1, help="page number, from 1")
    sub.add_argument("--per-page", type=_at_least(1), default=20, metavar="M", help="default 20")
    for name, handler, text in (
        ("show", cmd_show, "show a session and every attempt of every test"),
        ("failed", cmd_failed, "the tests whose final attempt failed or errored"),
    ):
        verb(name, handler, text).add_argument(
            "session", metavar="SESSION", nargs="?", default=LATEST,
            help=f"id, uuid or {LATEST} (default)",
        )  # fmt: skip
    sub = verb("flaky", cmd_flaky, "tests that flip between passing and failing")
    sub.add_argument("--last", type=_at_least(1), default=10, metavar="N", help="sessions (10)")
    sub.add_argument("--min-flips", type=_at_least(0), default=3, metavar="N", help="default 3")
    sub = verb("slow", cmd_slow, "the slowest tests by median duration")
    sub.add_argument("--top", type=_at_least(1), default=20, metavar="N", help="how many (20)")
    sub.add_argument("--last", type=_at_least(1), default=10, metavar="N", help="sessions (10)")
    sub = verb("history", cmd_history, "one test's outcomes and durations across sessions")
    sub.add_argument("test", metavar="TEST", help="the test's node id, as pytest prints it")
    sub.add_argument("--last", type=_at_least(1), default=20, metavar="N", help="sessions (20)")
    sub = verb("html", cmd_html, "write the HTML report of a session and its history")
    sub.add_argument("session", metavar="SESSION", nargs="?", default=LATEST,
                     help=f"id or {LATEST} (default)")  # fmt: skip
    sub.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        default=None,
        help="the file to write (default: .testreport/report.html next to the store)",
    )
    sub.add_argument("--last", type=_at_least(1), default=30, metavar="N",
                     help="sessions before SESSION in the history (30)")  # fmt: skip
    text = "send what the spool holds; only what the service confirms is removed"
    sub = verbs.add_parser("replay", help=text, description=text)
    sub.add_argument("--target", dest="replay_target", choices=available(), default=None,
                     help="only this target's journals (default: all)")  # fmt: skip
    sub.add_argument("--spool", metavar="DIR", default=None,
                     help="spool directory (default: $TESTREPORT_SPOOL_DIR, or .testreport/spool "
                     "in this directory or a parent)")  # fmt: skip
    sub.add_argument("--dry-run", action="store_true", help="list what would be sent")
    sub.set_defaults(run=cmd_replay)
    add_store_verbs(verbs)  # import, merge (cli_store.py)
    from .cli_shard import add_verbs as add_shard_verbs  # durations (cli_shard.py)

    add_shard_verbs(verbs)
    for spec in specs().values():
        spec.add_commands(verbs)
    return parser


def _unprefixed(message: str) -> str:
    # Settings errors are written for pytest's output ("testreport: ..."); ours has a prefix.
    return message[len("testreport: ") :] if message.startswith("testreport: ") else message


class _Masked:
    """A text stream that masks every credential of the run in what is written to it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(mask(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _register_credentials() -> None:
    """Know the configured credentials before anything is printed (a server may echo one)."""
    with contextlib.suppress(Exception):  # bad settings are reported by the verb that reads them
        settings_secrets(settings_from_env(os.environ, Path.cwd()))


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI; returns the exit code."""
    try:
        install()  # the targets' specs to config: their options, for every verb's settings
    except BadTarget as exc:  # another package's broken entry point
        print(f"{PROG}: {_unprefixed(str(exc))}", file=sys.stderr)
        return 2
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return exc.code if isinstance(exc.code, int) else 0
    _register_credentials()
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Masked(stdout), _Masked(stderr)
    try:
        return _run(args)
    finally:
        if isinstance(sys.stdout, _Masked):  # unless a broken pipe replaced it
            sys.stdout = stdout
        sys.stderr = stderr


def _run(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "run", None) is not None:  # verbs that need no reader
            return int(args.run(args))
        with readers()[args.target](args) as reader:
            return int(args.handler(reader, args))
    except (pytest.UsageError, Unsupported) as exc:
        print(f"{PROG}: {_unprefixed(str(exc))}", file=sys.stderr)
        return 2
    except (NotFound, StoreError, SpoolNotFound, sqlite3.Error, DeliveryError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # piped into head: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 1
