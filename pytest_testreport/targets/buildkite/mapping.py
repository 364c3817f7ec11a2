"""Pure mapping from a result to one Buildkite Test Engine execution (``data[]`` of an upload).

Identity (scope, name, location), result, timing (``history``), failure text within the
documented limits, and tags: ours, ``execution_tag`` markers and metadata, each checked against
Buildkite's rules so that an invalid tag is dropped and reported, never sent. The upload tags
option is parsed here, by the same rules. Reference: ``../shared/reference/buildkite.md`` §1.4-1.5;
the run, batching and uploads are the target's (``target.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Callable, Optional

from ...model import Outcome, ResultKind, TestId, TestResult
from ...text import truncate_lines
from ..remote import clean_text

MAX_TAGS = 10  # upload tags, and custom tags per execution
TAG_KEY_BYTES, TAG_VALUE_BYTES = 63, 127  # "< 64 bytes", "< 128 bytes"
REASON_CHARS = 1000
EXPANDED_LINES, EXPANDED_BYTES = 200, 32 * 1024
BACKTRACE_ENTRIES = 50
MAX_SPANS, SPAN_CHARS = 100, 1000
EXECUTION_TAG = "execution_tag:"  # metadata key prefix for @pytest.mark.execution_tag(key, value)
# Our own tags; user keys must not equal them or be dot-prefixes of them.
OWN_TAGS = ("test.attempt", "test.phase", "test.pytest_collection_error", "pytest.outcome",
            "pytest.rerun", "pytest.quarantined")  # fmt: skip
RESULTS = {Outcome.PASSED: "passed", Outcome.FAILED: "failed", Outcome.ERROR: "failed",
           Outcome.SKIPPED: "skipped", Outcome.XFAILED: "skipped",
           Outcome.XPASSED: "passed"}  # fmt: skip
_TAG_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_BACKTRACE = re.compile(r"^([^\s:][^:]*\.py):(\d+)(?::|$)")


# -- tags ---------------------------------------------------------------------------------------
def tag_problem(key: str, value: str) -> Optional[str]:
    """Why Buildkite would refuse this tag (reference §1.5), or None."""
    if not _TAG_KEY.fullmatch(key):
        return "keys start with a letter and hold only letters, digits, '_', '-' and '.'"
    if len(key.encode("utf-8")) > TAG_KEY_BYTES:
        return "keys must be shorter than 64 bytes"
    if key == "mut" or key.startswith("mut."):
        return "mut.* keys are reserved for mutable tags"
    if not value.strip():
        return "values must not be blank"
    if len(value.encode("utf-8")) > TAG_VALUE_BYTES:
        return "values must be shorter than 128 bytes"
    return None


def prefix_clash(key: str, keys: Any) -> Optional[str]:
    """A key of ``keys`` that ``key`` is a dot-prefix of (or the reverse)."""
    return next((k for k in keys if k.startswith(key + ".") or key.startswith(k + ".")), None)


def parse_upload_tags(value: str) -> dict[str, str]:
    """``key=value,key2=value2`` or a JSON object; at most 10 tags, each valid for Buildkite."""
    text = value.strip()
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a JSON object: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object of strings")
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    else:
        pairs = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, val = part.partition("=")
            if not sep:
                raise ValueError(f"expected KEY=VALUE, got {part!r}")
            pairs.append((key.strip(), val.strip()))
    tags: dict[str, str] = {}
    for key, val in pairs:
        problem = tag_problem(key, val)
        clash = prefix_clash(key, [*tags, *OWN_TAGS]) or (key if key in OWN_TAGS else None)
        if problem or clash:
            raise ValueError(f"tag {key!r}: {problem or f'clashes with the tag {clash!r}'}")
        tags[key] = val
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} upload tags, got {len(tags)}")
    return tags


def own_tags(result: TestResult) -> dict[str, str]:
    """The tags we add: attempt, error phase, collection error, exact outcome, rerun, quarantine."""
    tags = {"test.attempt": str(result.attempt)}
    failure = result.failure
    if result.kind is ResultKind.COLLECTION_ERROR:
        tags["test.pytest_collection_error"] = "true"
    elif result.kind is ResultKind.CRASH:
        tags["pytest.outcome"] = "crashed"
    elif result.outcome is Outcome.ERROR:
        tags["pytest.outcome"] = "error"
        if failure is not None and failure.phase in ("setup", "teardown"):
            tags["test.phase"] = failure.phase
    elif result.outcome in (Outcome.XFAILED, Outcome.XPASSED):
        tags["pytest.outcome"] = result.outcome.value
    elif failure is not None and failure.message.startswith("[XPASS(strict)]"):
        tags["pytest.outcome"] = "xpassed"
    if not result.final:
        tags["pytest.rerun"] = "true"
    if "quarantined" in result.tags:  # marker tags are not sent here; this one matters
        tags["pytest.quarantined"] = "true"
    return tags


def execution_tags(
    result: TestResult, upload_tags: Mapping[str, str], drop: Callable[[str, str], None]
) -> dict[str, str]:
    """Our tags, then ``execution_tag`` markers, then metadata; invalid ones go to ``drop``."""
    tags = own_tags(result)
    if not result.metadata:
        return tags
    marked = [
        (k[len(EXECUTION_TAG) :], v) for k, v in result.metadata if k.startswith(EXECUTION_TAG)
    ]
    plain = [(k, v) for k, v in result.metadata if not k.startswith(EXECUTION_TAG)]
    user: set[str] = set()
    for key, raw in marked + plain:
        if key in user:  # the closest marker (listed first) or the first metadata call wins
            continue
        value = clean_text(raw)
        problem = tag_problem(key, value)
        if problem is None and key in tags:
            problem = "reserved by pytest-testreport"
        clash = None if problem else prefix_clash(key, [*tags, *upload_tags])
        if clash:
            problem = f"clashes with the tag {clash!r}"
        if problem is None and len(tags) >= MAX_TAGS:
            problem = f"more than {MAX_TAGS} tags on one execution"
        if problem:
            drop(key, problem)
            continue
        tags[key] = value
        user.add(key)
    return tags


# -- one execution ------------------------------------------------------------------------------
def backtrace(lines: list[str]) -> list[str]:
    """``file:line`` of each traceback entry, in order, without repeats."""
    seen: dict[str, None] = {}
    for line in lines:
        match = _BACKTRACE.match(line)
        if match:
            seen.setdefault(f"{match.group(1)}:{match.group(2)}", None)
    return list(seen)[:BACKTRACE_ENTRIES]


def expanded(lines: list[str]) -> list[str]:
    """The traceback lines, at most ``EXPANDED_LINES`` lines and about ``EXPANDED_BYTES``."""
    out, used = [], 0
    for line in truncate_lines([clean_text(line) for line in lines], EXPANDED_LINES):
        used += len(line.encode("utf-8")) + 1
        if used > EXPANDED_BYTES:
            out.append(f"… [truncated {len(lines) - len(out)} more lines]")
            break
        out.append(line)
    return out


def history(result: TestResult, origin: float) -> dict[str, Any]:
    """Seconds since the session started, from wall-clock stamps all xdist workers share."""
    start = max(0.0, result.started_at.timestamp() - origin)
    end = max(start, result.finished_at.timestamp() - origin)
    spans = []
    for step in sorted(result.steps, key=lambda s: s.started_at)[:MAX_SPANS]:
        s_start = max(0.0, step.started_at.timestamp() - origin)
        content = " ".join(filter(None, (step.keyword, step.text)))
        if step.result == "failed":
            content += f" (failed: {step.failure})" if step.failure else " (failed)"
        spans.append({
            "section": "annotation",
            "start_at": round(s_start, 6),
            "end_at": round(s_start + step.duration, 6),
            "duration": round(max(0.0, step.duration), 6),
            "detail": {"content": clean_text(content, SPAN_CHARS)},
        })  # fmt: skip
    return {"section": "top", "start_at": round(start, 6), "end_at": round(end, 6),
            "duration": round(max(0.0, result.duration), 6), "children": spans}  # fmt: skip


def _text(value: str) -> str:
    """``clean_text``, with a fast path for the usual printable ASCII node ids."""
    return value if value.isascii() and value.isprintable() else clean_text(value)


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """(scope, name): the name is the last part, parameters included even if they hold ``::``."""
    test = TestId.of(nodeid)
    return "::".join(test.scopes), test.name


def to_execution(result: TestResult, origin: float, file_name: str,
                 upload_tags: Mapping[str, str], drop: Callable[[str, str], None],
                 ) -> dict[str, Any]:  # fmt: skip
    """One ``data[]`` record (reference §1.4)."""
    scope, name = split_nodeid(result.nodeid)
    if result.kind is ResultKind.COLLECTION_ERROR:
        scope, name = result.nodeid, result.name or result.nodeid
    record: dict[str, Any] = {
        "id": result.uuid,
        "scope": _text(scope),
        "name": _text(name),
        "location": f"{file_name}:{result.line}" if result.line else file_name,
        "file_name": file_name,
        "result": RESULTS[result.outcome],
        "history": history(result, origin),
        "tags": execution_tags(result, upload_tags, drop),
    }
    failure = result.failure
    if failure is not None and record["result"] == "failed":
        record["failure_reason"] = clean_text(failure.message, REASON_CHARS)
        lines = failure.traceback
        record["failure_expanded"] = [{"expanded": expanded(lines), "backtrace": backtrace(lines)}]
    return record
