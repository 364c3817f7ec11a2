"""Pure mapping from the result model to BrowserStack's ``/ext/v1`` payloads, within its limits.

Every documented limit is applied here, before anything is sent: strings are cut with a visible
marker, lists keep their most useful end, and what cannot carry a marker inline (dropped tags or
metadata keys) is listed under the ``testreport.truncated`` metadata key of the test run.
Reference: ``shared/reference/browserstack.md`` §3 (fields and limits) and §10 (mapping).
"""

from __future__ import annotations

import hashlib
import platform
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from ..model import Outcome, ResultKind, TestResult, TestStart
from ..reports import split_nodeid
from .remote import clean_text

Json = dict[str, Any]

# Limits (reference §3.8). Lengths are characters.
NAME_MAX = 500
FILE_MAX = 1000  # file_name, location
SCOPES_MAX, SCOPE_MAX = 20, 100
TAGS_MAX, TAG_MAX = 50, 100
META_KEYS_MAX, META_VALUES_MAX, META_LEN_MAX = 25, 10, 500
FAILURES_MAX, BACKTRACE_LINES_MAX, BACKTRACE_LINE_MAX = 100, 1000, 2000
STEP_FAILURE_MAX = 5000
STEP_TEXT_MAX = 1000  # undocumented; the step API already keeps texts this short
LOGS_PER_REQUEST, LOG_MESSAGE_MAX = 500, 10000
LOGS_PER_TEST = 500  # our budget: at most one logs request per test
ENVIRONMENT_LIMITS = {"device": 100, "os": 100, "os_version": 50,
                      "browser": 100, "browser_version": 50}  # fmt: skip

# Metadata keys of ours; the ``attempt`` key is the interface decision's spelling.
ID_KEY = "testreport.id"
NOTES_KEY = "testreport.truncated"
ENV_PREFIX = "browserstack_"  # per-test environment: metadata browserstack_browser=..., etc.
HOOK_TYPES = {"setup": "beforeEach", "teardown": "afterEach"}

_TIMEOUT = re.compile(r"Timeout \(>[\d.]+s\) from pytest-timeout|^(?:Failed: )?Timeout >[\d.]+s")
_PHASE_MARK = re.compile(r"^(setup|call|teardown|crash) error:$")
_LOG_LEVEL = re.compile(r"^(CRITICAL|FATAL|ERROR|WARNING|WARN|INFO|DEBUG|NOTSET)\b")
_LEVELS = {"CRITICAL": "ERROR", "FATAL": "ERROR", "WARNING": "WARN", "NOTSET": "DEBUG"}


# -- text within limits -------------------------------------------------------------------------
def iso(value: datetime) -> str:
    """UTC ISO 8601 with milliseconds and ``Z``."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def clip(value: Any, limit: int) -> str:
    """Valid text of at most ``limit`` characters; a cut is marked in the middle."""
    return clean_text(value, limit)


def clip_tail(value: Any, limit: int) -> str:
    """Keep the end (a long path's file name matters most), marked with a leading ``…``."""
    text = clean_text(value)
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def test_name(name: str) -> str:
    """The test's name; a long one is cut and keeps a short hash so names stay distinct."""
    text = clean_text(name)
    if len(text) <= NAME_MAX:
        return text
    digest = hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:8]
    return clean_text(text, NAME_MAX - 12) + f" [#{digest}]"


def location(result: TestResult) -> str:
    """``file:line`` (1-based), keeping the line number when the path is cut."""
    suffix = f":{result.line}" if result.line is not None else ""
    return clip_tail(result.path, FILE_MAX - len(suffix)) + suffix


def scopes(result: TestResult) -> list[str]:
    """The file path first, then each class, outermost first (1 to 20 entries)."""
    parts = list(result.scopes) if result.kind is not ResultKind.COLLECTION_ERROR else []
    if not parts or parts[0] != result.path:
        parts = [result.path, *parts[1:]] if parts else [result.path]
    if len(parts) > SCOPES_MAX:
        omitted = len(parts) - SCOPES_MAX + 1
        parts = [parts[0], f"… [{omitted} scopes omitted]", *parts[-(SCOPES_MAX - 2) :]]
    return [clip_tail(p, SCOPE_MAX) or "-" for p in parts]


# -- statuses -----------------------------------------------------------------------------------
def is_timeout(result: TestResult) -> bool:
    """pytest-timeout's signal method fails the test with a recognisable message."""
    failure = result.failure
    if failure is None:
        return False
    return any(_TIMEOUT.search(text) for text in [failure.message, *failure.traceback[-50:]])


def status(result: TestResult) -> str:
    """passed, failed, skipped or timeout."""
    if result.outcome in (Outcome.PASSED, Outcome.XPASSED):
        return "passed"
    if result.outcome in (Outcome.SKIPPED, Outcome.XFAILED):
        return "skipped"
    return "timeout" if is_timeout(result) else "failed"


def outcome_label(result: TestResult) -> str:
    """The exact pytest outcome for ``custom_metadata`` (reference §10)."""
    if result.kind is ResultKind.COLLECTION_ERROR:
        return "collection_error"
    if result.kind is ResultKind.CRASH:
        return "crashed"
    return result.outcome.value


# -- tags and metadata --------------------------------------------------------------------------
def tags_and_metadata(result: TestResult) -> tuple[list[str], Json]:
    """Tags (markers, plus ``rerun`` for retried attempts) and ``custom_metadata``, both bounded."""
    notes: list[str] = []
    tags: list[str] = ["rerun"] if result.attempt > 1 else []
    for tag in result.tags:
        tag = clip(tag, TAG_MAX)
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        dropped = tags[TAGS_MAX:]
        notes.append(f"{len(dropped)} tags not sent (limit {TAGS_MAX}): " + ", ".join(dropped))
        tags = tags[:TAGS_MAX]
    ours: list[tuple[str, str]] = [
        ("attempt", str(result.attempt)),
        (ID_KEY, result.uuid),
        ("pytest.nodeid", result.nodeid),
        ("pytest.outcome", outcome_label(result)),
    ]
    if result.failure is not None:
        ours.append(("pytest.phase", result.failure.phase))
    if result.reason:
        ours.append(("pytest.reason", result.reason))
    if result.worker:
        ours.append(("pytest.worker", result.worker))
    if not result.final:
        ours.append(("pytest.final", "false"))
    metadata: Json = {key: clip(value, META_LEN_MAX) for key, value in ours}
    grouped: dict[str, list[str]] = {}
    for key, value in result.metadata:
        if not key.startswith(ENV_PREFIX) or key[len(ENV_PREFIX) :] not in ENVIRONMENT_LIMITS:
            grouped.setdefault(clip(key, META_LEN_MAX), []).append(clip(value, META_LEN_MAX))
    room = META_KEYS_MAX - len(metadata)
    if notes or len(grouped) > room:
        room -= 1  # one key for the notes
    dropped_keys = []
    for key, values in grouped.items():
        if key in metadata or key == NOTES_KEY:
            notes.append(f"metadata key {key!r} is reserved; its value was not sent")
            continue
        if room <= 0:
            dropped_keys.append(key)
            continue
        room -= 1
        if len(values) > META_VALUES_MAX:
            extra = len(values) - META_VALUES_MAX + 1
            values = [*values[: META_VALUES_MAX - 1], f"… [{extra} more values not sent]"]
        metadata[key] = values if len(values) > 1 else values[0]
    if dropped_keys:
        notes.append(
            f"{len(dropped_keys)} metadata keys not sent (limit {META_KEYS_MAX}): "
            + ", ".join(dropped_keys)
        )
    if notes:
        metadata[NOTES_KEY] = [clip(n, META_LEN_MAX) for n in notes[:META_VALUES_MAX]]
    return tags, metadata


def environment(base: dict[str, str], result: Optional[TestResult] = None) -> dict[str, str]:
    """Environment fields: the configured/host values, overridden per test by metadata."""
    env = dict(base)
    for key, value in result.metadata if result is not None else ():
        field = key[len(ENV_PREFIX) :] if key.startswith(ENV_PREFIX) else None
        if field in ENVIRONMENT_LIMITS:
            env[field] = value  # type: ignore[index]
    return {k: clip(v, ENVIRONMENT_LIMITS[k]) for k, v in env.items() if v}


def parse_environment(value: str) -> dict[str, str]:
    """``os=Windows,browser=chrome``: the option's form (a ``ValueError`` names the problem)."""
    env: dict[str, str] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, text = part.partition("=")
        key = key.strip()
        if not sep or key not in ENVIRONMENT_LIMITS:
            raise ValueError(
                f"expected FIELD=VALUE pairs with FIELD one of "
                f"{', '.join(ENVIRONMENT_LIMITS)}; got {part.strip()!r}"
            )
        env[key] = text.strip()
    return env


def host_environment() -> dict[str, str]:
    """os and os_version of this machine, as BrowserStack spells the common ones."""
    system = platform.system()
    if system == "Darwin":
        return {"os": "macOS", "os_version": platform.mac_ver()[0] or platform.release()}
    if system == "Windows":
        return {"os": "Windows", "os_version": platform.release()}
    return {"os": system or sys.platform, "os_version": platform.release()}


# -- failures, steps ----------------------------------------------------------------------------
def failure_segments(result: TestResult) -> list[tuple[str, list[str]]]:
    """The failure text split per failing phase: ``[(phase, lines), ...]``."""
    failure = result.failure
    if failure is None:
        return []
    segments: list[tuple[str, list[str]]] = [(failure.phase, [])]
    for line in failure.traceback:
        mark = _PHASE_MARK.match(line)
        if mark:
            if segments[-1][1] and segments[-1][1][-1] == "":
                segments[-1][1].pop()
            segments.append((mark.group(1), []))
        else:
            segments[-1][1].append(line)
    return [(phase, lines or [failure.message]) for phase, lines in segments]


def backtrace(lines: list[str]) -> list[str]:
    """At most 1000 lines of at most 2000 characters; the end (the error) is kept."""
    lines = [clip(line, BACKTRACE_LINE_MAX) for line in lines]
    if len(lines) > BACKTRACE_LINES_MAX:
        keep = BACKTRACE_LINES_MAX - 1
        lines = [f"… [{len(lines) - keep} earlier lines truncated]", *lines[-keep:]]
    return lines


def failures(result: TestResult) -> list[Json]:
    """One ``{backtrace}`` entry per failing phase, for failed (and timed out) results."""
    if status(result) not in ("failed", "timeout"):
        return []
    return [{"backtrace": backtrace(lines)} for _, lines in failure_segments(result)][:FAILURES_MAX]


def steps(result: TestResult) -> list[Json]:
    """``meta.steps`` from the step API, in start order, ids unique."""
    out: list[Json] = []
    seen: set[str] = set()
    for step in sorted(result.steps, key=lambda s: s.started_at):
        if step.id in seen:
            continue
        seen.add(step.id)
        entry: Json = {"id": step.id, "text": clip(step.text, STEP_TEXT_MAX),
                       "started_at": iso(step.started_at), "result": step.result}  # fmt: skip
        if step.keyword:
            entry["keyword"] = clip(step.keyword, TAG_MAX)
        if step.finished_at is not None:
            entry["finished_at"] = iso(step.finished_at)
            entry["duration"] = max(0, round(step.duration * 1000))
        if step.failure:
            entry["failure"] = clip(step.failure, STEP_FAILURE_MAX)
        out.append(entry)
    return out


def duration_ms(seconds: float) -> int:
    """Positive whole milliseconds (the API refuses 0)."""
    return max(1, round(seconds * 1000))


# -- test runs ----------------------------------------------------------------------------------
def _run(result: TestResult, env: Optional[dict[str, str]], /, **fields: Any) -> Json:
    """Fields every start and finish carries, then ``fields``; empty optional ones left out."""
    body: Json = {"file_name": clip_tail(result.path, FILE_MAX), "scopes": scopes(result)}
    if env is not None:
        body["environment"] = environment(env, result)
    body.update(fields)
    return {k: v for k, v in body.items() if v not in (None, [], {})}


def test_start(result: TestResult, env: dict[str, str]) -> Json:
    tags, metadata = tags_and_metadata(result)
    return _run(result, env, name=test_name(result.name), started_at=iso(result.started_at),
                location=location(result), tags=tags, custom_metadata=metadata)  # fmt: skip


def live_test_start(start: TestStart, env: dict[str, str]) -> Json:
    """``tests/start`` when the test starts (after its setup): no outcome is known yet."""
    parts = split_nodeid(start.nodeid)
    result = TestResult(nodeid=start.nodeid, path=start.path, name=parts[-1],
                        outcome=Outcome.PASSED, started_at=start.started_at,
                        finished_at=start.started_at, uuid=start.uuid, line=start.line,
                        scopes=parts[:-1], attempt=start.attempt, tags=start.tags,
                        metadata=start.metadata)  # fmt: skip
    body = test_start(result, env)
    outcome_keys = {"pytest.outcome", "pytest.phase", "pytest.reason", "pytest.final"}
    body["custom_metadata"] = {
        k: v for k, v in body.get("custom_metadata", {}).items() if k not in outcome_keys
    }
    return body


def test_finish(result: TestResult, env: dict[str, str], hooks: list[str]) -> Json:
    # Tags again on the finish: the interface decision sends ``rerun`` on start and finish.
    tags, metadata = tags_and_metadata(result)
    meta_steps = steps(result)
    return _run(
        result, env, result=status(result), duration_in_ms=duration_ms(result.duration),
        finished_at=iso(max(result.finished_at, result.started_at)), failure=failures(result),
        tags=tags, custom_metadata=metadata, hooks=hooks,
        meta={"steps": meta_steps} if meta_steps else None,
    )  # fmt: skip


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


def phase_failed(result: TestResult, phase: str) -> bool:
    return any(p == phase for p, _ in failure_segments(result))


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
    return _run(result, env, hook_type=hook.hook_type, started_at=iso(hook.started),
                name=test_name(hook.name), test_run_id=run_uuid,
                location=location(result))  # fmt: skip


def hook_finish(result: TestResult, hook: HookRun | str) -> Json:
    hook = _hook(result, hook)
    failure = [{"backtrace": backtrace(hook.lines)}] if hook.lines else None
    return _run(result, None, hook_type=hook.hook_type, result=hook.result, failure=failure,
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
    return [items[i : i + size] for i in range(0, len(items), size)]
