"""The CLI's reading verbs (``list``, ``show``, ``failed``, ``flaky``, ``slow``, ``history``,
``html``): each takes a target's ``Reader`` and the parsed arguments and returns the exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from .config import settings_from_env
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
from .ranking import change_text, sparkline
from .reading import NotFound, Reader, Unsupported
from .targets import specs
from .targets.spec import TargetSpec

PROG = "pytest-testreport"
MESSAGE_LINES = 5  # failure message lines shown under a failed row
HISTORY_WIDTH = 20
_LETTERS = {"passed": "P", "xpassed": "X", "failed": "F", "error": "E"}


def _local_reader(args: argparse.Namespace) -> Reader:
    from .targets.local.reader import LocalReader, find_store

    return LocalReader(find_store(Path.cwd(), args.store, os.environ))


def _remote_reader(spec: TargetSpec) -> Callable[[argparse.Namespace], Reader]:
    def make(args: argparse.Namespace) -> Reader:
        reader = spec.reader_class()
        assert reader is not None
        return reader.from_settings(settings_from_env(os.environ, Path.cwd()))

    return make


def readers() -> dict[str, Callable[[argparse.Namespace], Reader]]:
    """Target name -> factory building its reader from the parsed arguments. Local finds its
    store the CLI's way (--store, TESTREPORT_LOCAL_PATH, then up from here)."""
    found: dict[str, Callable[[argparse.Namespace], Reader]] = {"local": _local_reader}
    found.update({name: _remote_reader(spec) for name, spec in specs().items()
                  if name != "local" and spec.reader is not None})  # fmt: skip
    return found


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
                s["run"] if len(s.get("sessions") or ()) > 1 else s["id"],  # joined: run:<id>
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
    name = f"run {session['run']}" if session.get("run") else f"session {session['id']}"
    lines = [
        f"{name}  {status}",
        f"  uuid      {session['uuid'] or '-'}",
        f"  branch    {session['branch'] or '-'}{revision}",
        f"  started   {time_text(session['started_at'], True)} UTC"
        f"   duration {seconds(session['duration'])}",
        _counts_line(session),
    ]
    if session.get("run"):  # a logical run: the sessions of one CI run id (targets/local/runs.py)
        lines.append(f"  sessions  {', '.join(map(str, session['sessions']))}")
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
    name = f"run {session['run']}" if session.get("run") else f"session {session['id']}"
    tests = reader.failed(str(session.get("run") or session["id"]), args.branch)
    if not tests:
        return _print_lines([f"no failed tests in {name}"])
    rows = [[t["outcome"], seconds(t["duration"]), t["nodeid"]] for t in tests]
    notes = [_message_lines(t) for t in tests]
    headers = ["OUTCOME", "DURATION", "TEST"]
    return _print_lines(
        [
            f"{_failed_counts(tests)} in {name}{on_branch(session['branch'])}:",
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
                # Where it flipped (local store; see ranking.py): the sessions to look at.
                fit(",".join(map(str, f.get("flip_sessions", []))) or "-", HISTORY_WIDTH),
                f["nodeid"],
            ]
            for f in found
        ]
        heading = f"tests with at least {plural(args.min_flips, 'flip')} in {scope}"
        legend = "history, oldest first: P passed, X xpassed, F failed, E error"
        headers = ["FLIPS", "SESSIONS", "HISTORY", "FLIPPED IN", "TEST"]
        return [heading, legend, "", *table(headers, rows, flex=4, right=(0, 1), nodeid=True)]

    return _emit(args, found, lines)


def cmd_slow(reader: Reader, args: argparse.Namespace) -> int:
    found = reader.slow(args.top, args.last, args.branch)
    scope = f"the last {args.last} sessions{on_branch(args.branch)}"

    def lines() -> list[str]:
        if not found:
            return [f"no test results in {scope}"]
        rows = [
            [seconds(s["median_duration"]), seconds(s["max_duration"]), s["runs"],
             fit(sparkline(s["trend"]), HISTORY_WIDTH, keep_end=True) if s.get("trend") else "-",
             change_text(s.get("change")), s["nodeid"]]
            for s in found
        ]  # fmt: skip
        headers = ["MEDIAN", "MAX", "RUNS", "TREND", "LATEST", "TEST"]
        heading = f"slowest tests by median duration over {scope}"
        return [heading, "", *table(headers, rows, flex=5, right=(0, 1, 2, 4), nodeid=True)]

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
    from .targets.local.reader import LocalReader

    if not isinstance(reader, LocalReader):
        raise Unsupported("html reads the local store only (leave out --target)")
    output = Path(args.output) if args.output else reader.path.parent / DEFAULT_OUTPUT.name
    try:
        session = write_report(reader, output, args.session, args.last, args.branch)
    except OSError as exc:  # an unwritable output path: one line, not a traceback
        print(f"{PROG}: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.json:
        run = {"run": session["run"]} if session.get("run") else {}  # run:<id>: its shards joined
        print(json.dumps({"session": session["id"], **run, "path": str(output)}))
    else:
        print(output)
    return 0
