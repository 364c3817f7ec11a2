"""``pytest-testreport``: recorded runs (``list``, ``show``, ``failed``, ``flaky``, ``slow``,
``history``), ``replay`` of spooled items, and each target's own helpers (e.g. ``buddy open``).

Exit codes: 0 success, 1 a runtime failure (unknown session, no store, a store from a newer
plugin), 2 bad usage. Expected failures print one line to stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from . import __version__
from .config import read_ini, settings_from_env
from .engine.errors import DeliveryError
from .engine.replay import SPOOL_ENV, SpoolNotFound, find_spool, replay
from .layout import (
    Fitted,
    clean,
    fit,
    on_branch,
    paint,
    plural,
    seconds,
    table,
    time_text,
    use_color,
    width,
)
from .reading import LATEST, NotFound, Reader, Unsupported
from .targets import available, target_class
from .targets.local import StoreError

PROG = "pytest-testreport"
MESSAGE_LINES = 5  # failure message lines shown under a failed row
HISTORY_WIDTH = 20
_LETTERS = {"passed": "P", "xpassed": "X", "failed": "F", "error": "E"}


def _local_reader(args: argparse.Namespace) -> Reader:
    from .targets.local_reader import LocalReader, find_store

    return LocalReader(find_store(Path.cwd(), args.store, os.environ))


def _remote_reader(name: str) -> Callable[[argparse.Namespace], Reader]:
    def make(args: argparse.Namespace) -> Reader:
        return target_class(name).reader(settings_from_env(os.environ, Path.cwd()))

    return make


# Target name -> factory building its reader from the parsed arguments.
READERS: dict[str, Callable[[argparse.Namespace], Reader]] = {"local": _local_reader}
READERS.update({name: _remote_reader(name) for name in available() if name != "local"
                and target_class(name).has_reader()})  # fmt: skip


def _message_lines(test: dict[str, Any]) -> list[str]:
    failure = test.get("failure")
    if test["outcome"] not in ("failed", "error") or not failure:
        return []
    lines = [line for line in failure["message"].splitlines() if line.strip()] or ["(no message)"]
    if len(lines) > MESSAGE_LINES:
        lines = [*lines[: MESSAGE_LINES - 1], f"… ({len(lines) - MESSAGE_LINES + 1} more lines)"]
    return lines


# -- verbs ------------------------------------------------------------------------------------


def _print_lines(lines: list[str]) -> int:
    # Headings can hold long branch names; every line must still fit (tables fit already).
    total = width()
    print("\n".join(line if isinstance(line, Fitted) else fit(clean(line), total)
                    for line in lines))  # fmt: skip
    return 0


def _styles(column: int) -> Optional[dict[int, Callable[[str], str]]]:
    """Colors for the outcome (or status) column, when stdout wants them."""
    return {column: paint} if use_color(sys.stdout) else None


def _emit(args: argparse.Namespace, data: Any, lines: Callable[[], list[str]]) -> int:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    return _print_lines(lines())


def cmd_list(reader: Reader, args: argparse.Namespace) -> int:
    sessions = reader.list_sessions(args.branch, args.page, args.per_page)

    def lines() -> list[str]:
        if not sessions:
            if args.page > 1:
                return [f"no sessions on page {args.page}{on_branch(args.branch)}"]
            return [f"no sessions{on_branch(args.branch)} yet"]
        headers = ["ID", "STATUS", "BRANCH", "REVISION", "STARTED", "DURATION"]
        headers += ["TESTS", "FAILED", "SKIPPED", "ERRORS"]
        rows = [
            [
                s["id"],
                s["status"],
                s["branch"] or "-",
                (s["revision"] or "-")[:8],
                time_text(s["started_at"]),
                seconds(s["duration"]),
                s["tests_count"],
                s["failed_count"],
                s["skipped_count"],
                s["error_count"],
            ]
            for s in sessions
        ]
        return table(headers, rows, flex=2, right=(0, 5, 6, 7, 8, 9), styles=_styles(1))

    return _emit(args, sessions, lines)


def _counts_line(session: dict[str, Any]) -> str:
    if session["tests_count"] is None:  # e.g. Buildkite's runs API has no counts
        return "  tests     - (not reported by this target)"
    return (
        f"  tests     {session['tests_count']}: {session['passed_count']} passed, "
        f"{session['failed_count']} failed, {session['skipped_count']} skipped, "
        f"{plural(session['error_count'], 'error')}"
    )


def _session_header(session: dict[str, Any]) -> list[str]:
    status = session["status"]
    if session["error_message"]:
        status += f": {session['error_message']}"
    revision = f" @ {session['revision'][:8]}" if session["revision"] else ""
    lines = [
        f"session {session['id']}  {status}",
        f"  uuid      {session['uuid'] or '-'}",
        f"  branch    {session['branch'] or '-'}{revision}",
        f"  started   {time_text(session['started_at'], True)} UTC"
        f"   duration {seconds(session['duration'])}",
        _counts_line(session),
    ]
    if session["ci_provider"] or session["run_url"]:
        ci = " ".join(x for x in (session["ci_provider"], session["run_url"]) if x)
        lines.append(f"  ci        {ci}")
    return lines


def cmd_show(reader: Reader, args: argparse.Namespace) -> int:
    session = reader.get_session(args.session, args.branch)

    def lines() -> list[str]:
        out = [*_session_header(session), ""]
        tests = session["tests"]
        if not tests:
            return [*out, f"no test results in session {session['id']}"]
        rows = [[t["outcome"], seconds(t["duration"]), t["attempt"], t["nodeid"]] for t in tests]
        notes = [_message_lines(t) for t in tests]
        headers = ["OUTCOME", "DURATION", "ATTEMPT", "TEST"]
        return out + table(headers, rows, flex=3, right=(1, 2), nodeid=True, notes=notes,
                           styles=_styles(0))  # fmt: skip

    return _emit(args, session, lines)


def cmd_failed(reader: Reader, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(reader.failed(args.session, args.branch), indent=2, ensure_ascii=False))
        return 0
    # Resolve ``latest`` once, so the header and the rows name the same session.
    session = reader.session(args.session, args.branch)
    tests = reader.failed(str(session["id"]), args.branch)
    if not tests:
        return _print_lines([f"no failed tests in session {session['id']}"])
    rows = [[t["outcome"], seconds(t["duration"]), t["nodeid"]] for t in tests]
    notes = [_message_lines(t) for t in tests]
    headers = ["OUTCOME", "DURATION", "TEST"]
    return _print_lines(
        [
            f"{_failed_counts(tests)} in session {session['id']}{on_branch(session['branch'])}:",
            *table(headers, rows, flex=2, right=(1,), nodeid=True, notes=notes,
                   styles=_styles(0)),
        ]
    )  # fmt: skip


def _failed_counts(tests: list[dict[str, Any]]) -> str:
    """``1 failed, 1 error``: failures and errors told apart."""
    failed = sum(1 for t in tests if t["outcome"] == "failed")
    errors = len(tests) - failed
    parts = [f"{failed} failed"] if failed else []
    return ", ".join([*parts, plural(errors, "error")] if errors else parts)


def cmd_flaky(reader: Reader, args: argparse.Namespace) -> int:
    found = reader.flaky(args.last, args.min_flips, args.branch)
    scope = f"the last {args.last} sessions{on_branch(args.branch)}"

    def lines() -> list[str]:
        if not found:
            return [f"no flaky tests in {scope} (at least {plural(args.min_flips, 'flip')})"]
        rows = [
            [
                f["flips"],
                f["sessions"],
                fit(
                    "".join(_LETTERS.get(o, "?") for o in f["outcomes"]),
                    HISTORY_WIDTH,
                    keep_end=True,
                ),
                f["nodeid"],
            ]
            for f in found
        ]
        heading = f"tests with at least {plural(args.min_flips, 'flip')} in {scope}"
        legend = "history, oldest first: P passed, X xpassed, F failed, E error"
        headers = ["FLIPS", "SESSIONS", "HISTORY", "TEST"]
        return [heading, legend, "", *table(headers, rows, flex=3, right=(0, 1), nodeid=True)]

    return _emit(args, found, lines)


def cmd_slow(reader: Reader, args: argparse.Namespace) -> int:
    found = reader.slow(args.top, args.last, args.branch)
    scope = f"the last {args.last} sessions{on_branch(args.branch)}"

    def lines() -> list[str]:
        if not found:
            return [f"no test results in {scope}"]
        rows = [
            [seconds(s["median_duration"]), seconds(s["max_duration"]), s["runs"], s["nodeid"]]
            for s in found
        ]
        headers = ["MEDIAN", "MAX", "RUNS", "TEST"]
        heading = f"slowest tests by median duration over {scope}"
        return [heading, "", *table(headers, rows, flex=3, right=(0, 1, 2), nodeid=True)]

    return _emit(args, found, lines)


def cmd_history(reader: Reader, args: argparse.Namespace) -> int:
    found = reader.history(args.test, args.last, args.branch)
    if not found:
        raise NotFound(f"no results of {args.test!r} in {reader.describe()}"
                       + on_branch(args.branch))  # fmt: skip

    def lines() -> list[str]:
        rows = [
            [h["session_id"], h["outcome"], seconds(h["duration"]), h["attempts"],
             time_text(h["started_at"]), h["branch"] or "-", (h["revision"] or "-")[:8]]
            for h in found
        ]  # fmt: skip
        notes = [[h["message"].splitlines()[0]] if h["message"] else [] for h in found]
        headers = ["SESSION", "OUTCOME", "DURATION", "ATTEMPTS", "STARTED", "BRANCH", "REVISION"]
        heading = f"{args.test}: the last {plural(len(found), 'session')} it ran in, newest first"
        return [heading, "", *table(headers, rows, flex=5, right=(0, 2, 3), notes=notes,
                                    styles=_styles(1))]  # fmt: skip

    return _emit(args, found, lines)


def cmd_html(reader: Reader, args: argparse.Namespace) -> int:
    from .report import DEFAULT_OUTPUT
    from .report.build import write_report
    from .targets.local_reader import LocalReader

    if not isinstance(reader, LocalReader):
        raise Unsupported("html reads the local store only (leave out --target)")
    output = Path(args.output) if args.output else reader.path.parent / DEFAULT_OUTPUT.name
    try:
        session = write_report(reader, output, args.session, args.last, args.branch)
    except OSError as exc:  # an unwritable output path: one line, not a traceback
        print(f"{PROG}: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"session": session["id"], "path": str(output)}))
    else:
        print(output)
    return 0


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
        "--target", choices=sorted(READERS), default="local" if top else default,
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
    from .cli_shard import add_verbs as add_shard_verbs  # durations (cli_shard.py)

    add_shard_verbs(verbs)
    for name in available():
        target_class(name).add_commands(verbs)
    return parser


def _unprefixed(message: str) -> str:
    # Settings errors are written for pytest's output ("testreport: ..."); ours has a prefix.
    return message[len("testreport: ") :] if message.startswith("testreport: ") else message


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return exc.code if isinstance(exc.code, int) else 0
    try:
        if getattr(args, "run", None) is not None:  # verbs that need no reader
            return int(args.run(args))
        with READERS[args.target](args) as reader:
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
