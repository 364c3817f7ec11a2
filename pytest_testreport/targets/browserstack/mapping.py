"""Pure mapping from the model to BrowserStack's ``/ext/v1`` build and test runs, within limits.

The build's start payload (from the session), and a test run's start and finish payloads with
the bounded texts, statuses, tags, metadata, environment and failures they carry. Every
documented limit is applied here, before anything is sent: strings are cut with a visible
marker, lists keep their most useful end, and what cannot carry a marker inline (dropped tags
or metadata keys) is listed under the ``testreport.truncated`` metadata key of the test run.
Hook runs and logs, sent between a run's start and finish, are mapped in ``hooks``.
Reference: ``shared/reference/browserstack.md`` §3 (fields and limits) and §10 (mapping).
"""

from __future__ import annotations

import hashlib
import platform
import re
import sys
from collections.abc import Iterable
from typing import Any, Optional

from ...ci import CIInfo
from ...failures import per_phase
from ...model import Outcome, ResultKind, Session, TestResult, TestStart
from ...timefmt import iso_ms as iso  # UTC with milliseconds and "Z", as the API documents
from ..remote import clean_text

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
ENVIRONMENT_LIMITS = {"device": 100, "os": 100, "os_version": 50,
                      "browser": 100, "browser_version": 50}  # fmt: skip

BUILD_NAME_MAX = 255  # build name and project name
BUILD_RUN_ID_MAX = 64
BUILD_TAGS_MAX = 50
TEXT_MAX = 2000  # undocumented free text (commit message, host fields): kept reasonable

# Metadata keys of ours; the ``attempt`` key is the interface decision's spelling.
ID_KEY = "testreport.id"
NOTES_KEY = "testreport.truncated"
ENV_PREFIX = "browserstack_"  # per-test environment: metadata browserstack_browser=..., etc.

_TIMEOUT = re.compile(r"Timeout \(>[\d.]+s\) from pytest-timeout|^(?:Failed: )?Timeout >[\d.]+s")


# -- text within limits -------------------------------------------------------------------------
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
    failure = result.failure
    if failure is not None:
        ours.append(("pytest.phase", failure.phase))
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
    """The failure text per failing phase: ``[(phase, lines), ...]``."""
    return per_phase(result.failures)


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
def run_body(result: TestResult, env: Optional[dict[str, str]], /, **fields: Any) -> Json:
    """Fields every start and finish carries, then ``fields``; empty optional ones left out."""
    body: Json = {"file_name": clip_tail(result.path, FILE_MAX), "scopes": scopes(result)}
    if env is not None:
        body["environment"] = environment(env, result)
    body.update(fields)
    return {k: v for k, v in body.items() if v not in (None, [], {})}


def test_start(result: TestResult, env: dict[str, str]) -> Json:
    tags, metadata = tags_and_metadata(result)
    return run_body(result, env, name=test_name(result.name), started_at=iso(result.started_at),
                    location=location(result), tags=tags, custom_metadata=metadata)  # fmt: skip


# What ``custom_metadata`` says of a finished run only: a live start leaves these out.
OUTCOME_KEYS = frozenset({"pytest.outcome", "pytest.phase", "pytest.reason", "pytest.final"})


def live_test_start(start: TestStart, env: dict[str, str]) -> Json:
    """``tests/start`` when the test starts (after its setup): no outcome is known yet."""
    result = TestResult(test=start.test, outcome=Outcome.PASSED, started_at=start.started_at,
                        finished_at=start.started_at, uuid=start.uuid, attempt=start.attempt,
                        tags=start.tags, metadata=start.metadata)  # fmt: skip
    body = test_start(result, env)
    body["custom_metadata"] = {
        k: v for k, v in body.get("custom_metadata", {}).items() if k not in OUTCOME_KEYS
    }
    return body


def test_finish(result: TestResult, env: dict[str, str], hooks: list[str]) -> Json:
    # Tags again on the finish: the interface decision sends ``rerun`` on start and finish.
    tags, metadata = tags_and_metadata(result)
    meta_steps = steps(result)
    return run_body(
        result, env, result=status(result), duration_in_ms=duration_ms(result.duration),
        finished_at=iso(max(result.finished_at, result.started_at)), failure=failures(result),
        tags=tags, custom_metadata=metadata, hooks=hooks,
        meta={"steps": meta_steps} if meta_steps else None,
    )  # fmt: skip


# -- the build payload -------------------------------------------------------------------------
def build_run_identifier(ci: CIInfo) -> Optional[str]:
    """The CI run (without its attempt, so re-runs of one CI run are grouped), ≤ 64 characters."""
    run = ci.run_id or ci.build_key
    if not ci.is_ci or not run:
        return None
    ident = clean_text(f"{ci.provider}-{run}")
    if len(ident) > BUILD_RUN_ID_MAX:  # an identifier: a digest keeps it unique, a cut may not
        ident = ident[:23] + "-" + hashlib.sha1(ident.encode()).hexdigest()
    return ident


def build_tags(tags: Iterable[str]) -> list[str]:
    """Distinct tags, each bounded; past the limit, the last tag says how many were left out."""
    out: list[str] = []
    for tag in tags:
        tag = clip(tag, TAG_MAX)
        if tag and tag not in out:
            out.append(tag)
    if len(out) > BUILD_TAGS_MAX:
        out = [*out[: BUILD_TAGS_MAX - 1], f"… [{len(out) - BUILD_TAGS_MAX + 1} more tags]"]
    return out


def _some(values: dict[str, Any]) -> Json:
    """The values that are set, as bounded text."""
    return {k: clip(v, TEXT_MAX) for k, v in values.items() if v not in (None, "")}


def build_start(session: Session, name: str, project: str, tags: list[str]) -> Json:
    """``POST builds/start``: names, host, tags, the CI run and the commit, within limits."""
    ci = session.ci
    body: Json = {
        "name": clip(name, BUILD_NAME_MAX),
        "project_name": clip(project, BUILD_NAME_MAX),
        "started_at": iso(session.started_at),
        "framework": {"name": "pytest", "version": session.pytest_version or "unknown"},
    }
    body["host_info"] = _some({"hostname": session.hostname, "platform": sys.platform,
                               "type": platform.system(), "version": platform.release(),
                               "arch": platform.machine()})  # fmt: skip
    if tags:
        body["tags"] = build_tags(tags)
    ident = build_run_identifier(ci)
    if ident:
        body["build_run_identifier"] = ident
    if ci.is_ci:
        body["ci_info"] = _some({"name": ci.provider, "build_url": ci.run_url,
                                 "url": ci.repository_url or ci.run_url,
                                 "build_number": ci.run_number,
                                 "job_name": ci.job_name})  # fmt: skip
    vcs = _some({"name": "git" if ci.revision else None, "sha": ci.revision, "branch": ci.branch,
                 "tag": ci.tag, "commit_message": ci.commit_message,
                 "committer_name": ci.committer})  # fmt: skip
    if vcs:
        body["version_control"] = vcs
    return body


def default_build_name(ci: CIInfo) -> str:
    """The CI job or workflow, else ``pytest``."""
    return ci.job_name or ci.workflow or "pytest"
