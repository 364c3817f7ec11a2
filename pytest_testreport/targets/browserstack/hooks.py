"""Pure mapping of what a BrowserStack test run carries between its start and its finish.

Hook runs: a test's fixture setup and teardown phases, sent when slow or failed (per
``testreport_browserstack_hooks``). Logs: its captured log records, stdout and stderr (per
``testreport_browserstack_logs``). Both are optional extras of a test run, each with its own
calls and limits; the test run's own start and finish are mapped in ``mapping``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ...batching import spans
from ...model import ResultKind, TestResult
from .mapping import (
    Json,
    backtrace,
    clip,
    duration_ms,
    failure_segments,
    is_timeout,
    iso,
    location,
    run_body,
    status,
    test_name,
)

LOGS_PER_REQUEST, LOG_MESSAGE_MAX = 500, 10000  # reference §3.8
LOGS_PER_TEST = 500  # our budget: at most one logs request per test
HOOK_TYPES = {"setup": "beforeEach", "teardown": "afterEach"}

_LOG_LEVEL = re.compile(r"^(CRITICAL|FATAL|ERROR|WARNING|WARN|INFO|DEBUG|NOTSET)\b")
_LEVELS = {"CRITICAL": "ERROR", "FATAL": "ERROR", "WARNING": "WARN", "NOTSET": "DEBUG"}


# -- hooks (fixture setup and teardown) ---------------------------------------------------------
# A phase with fixture records becomes up to two hook runs: its wider-scoped fixtures
# (beforeAll/afterAll) and its function-scoped ones (beforeEach/afterEach). A phase without
# records (a plugin's setup work, an older spool) stays one beforeEach/afterEach hook run.
ALL_SCOPES = frozenset({"session", "package", "module", "class"})
SCOPED_HOOK_TYPES = {("setup", True): "beforeAll", ("setup", False): "beforeEach",
                     ("teardown", True): "afterAll", ("teardown", False): "afterEach"}  # fmt: skip


@dataclass
class HookRun:
    """One hook run of a test: its progress key, type, times, outcome and failure lines."""

    key: str  # kept in ``progress``: "setup"/"teardown" (whole phase) or the hook type
    phase: str
    hook_type: str
    name: str
    started: datetime
    finished: datetime
    duration: float
    result: str
    lines: list[str]


def _phase_lines(result: TestResult, phase: str) -> list[str]:
    return [line for p, seg in failure_segments(result) if p == phase for line in seg]


def _covered(spans: list[tuple[datetime, datetime]]) -> float:
    """Seconds covered by the union of the spans (nested fixture setups overlap)."""
    total, end = 0.0, None
    for start, stop in sorted(spans):
        if end is None or start > end:
            total += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            total += (stop - end).total_seconds()
            end = stop
    return total


def _phase_times(result: TestResult, phase: str) -> tuple[datetime, datetime]:
    took = timedelta(seconds=result.durations.get(phase, 0.0))
    if phase == "setup":
        return result.started_at, result.started_at + took
    return max(result.started_at, result.finished_at - took), result.finished_at


def _outcome(result: TestResult, phase: str, lines: list[str]) -> str:
    if lines:
        return "timeout" if is_timeout(result) else "failed"
    if phase == "setup" and status(result) == "skipped" and "call" not in result.durations:
        return "skipped"
    return "passed"


def _whole_phase(result: TestResult, phase: str) -> HookRun:
    started, finished = _phase_times(result, phase)
    lines = _phase_lines(result, phase)
    return HookRun(key=phase, phase=phase, hook_type=HOOK_TYPES[phase],
                   name=f"{phase} of {result.name}", started=started, finished=finished,
                   duration=result.durations.get(phase, 0.0),
                   result=_outcome(result, phase, lines), lines=lines)  # fmt: skip


def _scoped(result: TestResult, phase: str) -> list[HookRun]:
    records = [f for f in result.fixtures if f.phase == phase]
    if not records:
        return [_whole_phase(result, phase)] if phase in result.durations else []
    wide = [f for f in records if f.scope in ALL_SCOPES]
    narrow = [f for f in records if f.scope not in ALL_SCOPES]
    # Wider-scoped fixtures run inside the function-scoped ones that depend on them, never
    # the reverse (pytest forbids it): the function-scoped time excludes theirs.
    wide_time = _covered([(f.started_at, f.finished_at) for f in wide])
    all_time = _covered([(f.started_at, f.finished_at) for f in records])
    groups = [(True, wide, wide_time), (False, narrow, max(0.0, all_time - wide_time))]
    if phase == "teardown":
        groups.reverse()
    lines = _phase_lines(result, phase)
    failed = [f for f in records if f.failure]
    # The phase's failure text goes to the group of the fixture it started in (the innermost
    # failing one), else to the function-scoped group, else to the wider one.
    origin = max(failed, key=lambda f: f.started_at) if failed else None
    home = origin.scope in ALL_SCOPES if origin is not None else not narrow
    runs = []
    for is_wide, members, took in groups:
        if not members:
            continue
        texts = [f"{f.name}: {f.failure}" for f in members if f.failure]
        mine = lines if (lines and is_wide == home) else texts
        hook_type = SCOPED_HOOK_TYPES[(phase, is_wide)]
        names = ", ".join(dict.fromkeys(f.name for f in members))
        runs.append(HookRun(
            key=hook_type, phase=phase, hook_type=hook_type,
            name=f"{hook_type} of {result.name}: {names}",
            started=min(f.started_at for f in members),
            finished=max(f.finished_at for f in members), duration=took,
            result=_outcome(result, phase, mine), lines=mine,
        ))  # fmt: skip
    return runs


def hook_runs(result: TestResult, mode: str, threshold: float) -> list[HookRun]:
    """The hook runs to send, per the mode: none, slow-or-failed (default) or all."""
    if mode == "none" or result.kind is not ResultKind.TEST:
        return []
    wanted = []
    for phase in HOOK_TYPES:
        for hook in _scoped(result, phase):
            if mode == "all" or hook.duration >= threshold or hook.lines:
                wanted.append(hook)
    return wanted


def hook_phases(result: TestResult, mode: str, threshold: float) -> list[str]:
    """The phases (setup/teardown) that have at least one hook run to send."""
    return list(dict.fromkeys(h.phase for h in hook_runs(result, mode, threshold)))


def _hook(result: TestResult, hook: HookRun | str) -> HookRun:
    return _whole_phase(result, hook) if isinstance(hook, str) else hook


def hook_start(result: TestResult, hook: HookRun | str, run_uuid: str,
               env: dict[str, str]) -> Json:  # fmt: skip
    hook = _hook(result, hook)
    return run_body(result, env, hook_type=hook.hook_type, started_at=iso(hook.started),
                    name=test_name(hook.name), test_run_id=run_uuid,
                    location=location(result))  # fmt: skip


def hook_finish(result: TestResult, hook: HookRun | str) -> Json:
    hook = _hook(result, hook)
    failure = [{"backtrace": backtrace(hook.lines)}] if hook.lines else None
    return run_body(result, None, hook_type=hook.hook_type, result=hook.result, failure=failure,
                    finished_at=iso(max(hook.finished, hook.started)),
                    duration_in_ms=duration_ms(hook.duration))  # fmt: skip


# -- logs ---------------------------------------------------------------------------------------
def wants_logs(result: TestResult, mode: str) -> bool:
    return mode == "all" or status(result) in ("failed", "timeout")


def log_entries(result: TestResult, run_uuid: str) -> list[Json]:
    """Captured log records (one entry each), then stdout and stderr in ≤ 10,000-char pieces.

    Records the runner attached (``result.logs``) carry their own times; without them the
    captured log text is split into records stamped with the test's start.
    """
    stamp = iso(result.started_at)
    messages: list[tuple[str, str, str]] = []
    if result.logs:
        for entry in sorted(result.logs, key=lambda e: e.timestamp):
            level = entry.level.upper()
            messages.append((iso(entry.timestamp), _LEVELS.get(level, level), entry.message))
    else:
        for line in result.log.splitlines():
            match = _LOG_LEVEL.match(line)
            if match or not messages:
                level = match.group(1) if match else "INFO"
                messages.append((stamp, _LEVELS.get(level, level), line))
            else:  # a multi-line record (e.g. logged traceback) continues the previous one
                when, level, text = messages[-1]
                messages[-1] = (when, level, text + "\n" + line)
    for title, level, text in (
        ("stdout", "INFO", result.stdout),
        ("stderr", "WARN", result.stderr),
    ):
        messages.extend((stamp, level, f"[{title}]\n{piece}") for piece in _pieces(text))
    if len(messages) > LOGS_PER_TEST:
        head = LOGS_PER_TEST // 5
        tail = LOGS_PER_TEST - head - 1
        marker = (messages[head][0], "WARN",
                  f"… [{len(messages) - head - tail} log entries not sent]")  # fmt: skip
        messages = [*messages[:head], marker, *messages[-tail:]]
    return [{"kind": "TEST_LOG", "test_run_uuid": run_uuid, "timestamp": when, "level": level,
             "message": clip(text, LOG_MESSAGE_MAX)} for when, level, text in messages]  # fmt: skip


def _pieces(text: str, size: int = LOG_MESSAGE_MAX - 20) -> Iterable[str]:
    """Split at line ends into pieces that fit a log message."""
    piece = ""
    for line in text.splitlines(keepends=True):
        if piece and len(piece) + len(line) > size:
            yield piece.rstrip("\n")
            piece = ""
        while len(line) > size:  # one huge line is split as well, never cut
            yield line[:size]
            line = line[size:]
        piece += line
    if piece.strip():
        yield piece.rstrip("\n")


def chunks(items: list[Json], size: int = LOGS_PER_REQUEST) -> list[list[Json]]:
    return [items[begin:end] for begin, end in spans([0] * len(items), size)]
