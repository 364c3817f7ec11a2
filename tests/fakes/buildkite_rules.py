"""Buildkite Test Engine upload validation (``../shared/reference/buildkite.md`` §1.2-1.6).

Upload-level problems reject the whole upload (422); an invalid execution is only *skipped*
(partial ingestion, as documented): :func:`execution` raises :class:`Reject` with the reason.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from .base import Reject
from .checks import Fields

RESULTS = ("passed", "failed", "skipped", "unknown")
SPAN_SECTIONS = ("http", "sql", "sleep", "annotation")
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "CONNECT", "OPTIONS", "TRACE")
FORMATS = ("json", "junit", "rspec-json", "jest-json", "playwright-json", "cucumber-json")
MAX_EXECUTIONS = 5000
MAX_UPLOAD_TAGS = 10
MAX_EXECUTION_TAGS = 10  # custom tags; core tags below do not count
TAG_KEY_MAX_BYTES = 63  # "< 64 bytes"
TAG_VALUE_MAX_BYTES = 127  # "< 128 bytes"
#: Built-in core tags (do not count toward the 10). The exact list is our assumption.
CORE_TAGS = frozenset(
    {
        "build.id",
        "build.job_id",
        "build.step_id",
        "cloud.provider",
        "code.file.path",
        "collector.name",
        "collector.version",
        "host.arch",
        "host.os",
        "language.name",
        "language.version",
        "scm.branch",
        "scm.commit_sha",
        "test.framework.name",
        "test.framework.version",
    }
)
_TAG_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")

UPLOAD_STATUS = 422


def upload(value: Any) -> tuple[dict[str, Any], dict[str, str], list[Any]]:
    """Check the envelope; returns ``(run_env, upload tags, raw executions)``."""
    body = Fields(value, status=UPLOAD_STATUS)
    fmt = body.string("format", required=True)
    if fmt not in FORMATS:
        raise body.fail("format", f"must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if fmt != "json":
        raise body.fail(
            "format", f"{fmt!r} is only accepted as multipart (fake: JSON uploads only)"
        )
    run_env = body.obj("run_env", required=True)
    assert run_env is not None
    run_env.string("key", required=True, nonblank=True)
    for key, val in run_env.data.items():
        if val is not None and not isinstance(val, str):
            raise run_env.fail(key, "must be a string")
    tags = tag_set(body.get("tags", required=False), "tags", MAX_UPLOAD_TAGS, UPLOAD_STATUS)
    data = body.array("data", required=True, min_items=1, max_items=MAX_EXECUTIONS)
    assert data is not None
    return run_env.data, tags, data


def tag_set(value: Any, where: str, limit: int, status: int) -> dict[str, str]:
    """Tag keys/values per §1.5; at most ``limit`` custom (non-core) keys."""
    if value is None:
        return {}
    tags = Fields(value, where, status)
    custom = [k for k in tags.data if k not in CORE_TAGS]
    if len(custom) > limit:
        raise Reject(status, f"{where}: at most {limit} tags, got {len(custom)}")
    for key in tags.data:
        problem = tag_key_problem(key)
        if problem:
            raise Reject(status, f"{where}: key {key!r} {problem}")
        tags.string(key, required=True, nonblank=True, max_bytes=TAG_VALUE_MAX_BYTES)
    check_prefixes(tags.data, where, status)
    return dict(tags.data)


def tag_key_problem(key: str) -> Optional[str]:
    if not key.strip():
        return "is blank"
    if not _TAG_KEY.fullmatch(key):
        return "must start with a letter and contain only letters, digits, '_', '-' and '.'"
    if len(key.encode("utf-8")) > TAG_KEY_MAX_BYTES:
        return f"must be shorter than {TAG_KEY_MAX_BYTES + 1} bytes"
    if key == "mut" or key.startswith("mut."):
        return "is reserved for mutable tags (mut.*)"
    return None


def check_prefixes(tags: dict[str, str], where: str, status: int) -> None:
    keys = sorted(tags)
    for key in keys:
        for other in keys:
            if other.startswith(key + "."):
                raise Reject(status, f"{where}: key {key!r} is a prefix of {other!r}")


def execution(value: Any, where: str, upload_tags: dict[str, str]) -> dict[str, Any]:
    """One ``data[]`` record; raises :class:`Reject` (the record is skipped) when invalid."""
    rec = Fields(value, where)
    rec.string("name", required=True, nonblank=True)
    for key in ("id", "scope", "location", "file_name", "failure_reason"):
        rec.string(key)
    rec.enum("result", RESULTS)
    for i, item in enumerate(rec.array("failure_expanded") or []):
        failure = Fields(item, f"{rec.name('failure_expanded')}[{i}]")
        failure.strings("expanded", required=True)
        failure.strings("backtrace", required=True)
    history = rec.obj("history", required=True)
    assert history is not None
    history.number("start_at", required=True)
    history.number("end_at")
    history.number("duration", required=True, minimum=0)
    for i, item in enumerate(history.array("children") or []):
        _span(Fields(item, f"{history.name('children')}[{i}]"))
    tags = tag_set(rec.get("tags", required=False), rec.name("tags"), MAX_EXECUTION_TAGS, 400)
    check_prefixes({**upload_tags, **tags}, rec.name("tags"), 400)
    return rec.data


def _span(span: Fields) -> None:
    section = span.enum("section", SPAN_SECTIONS, required=True)
    span.number("duration", required=True, minimum=0)
    span.number("start_at")
    span.number("end_at")
    if section == "sleep":
        return
    detail = span.obj("detail", required=True)
    assert detail is not None
    if section == "http":
        detail.enum("method", HTTP_METHODS, required=True)
        detail.string("url", required=True)
        detail.string("lib", required=True)
    elif section == "sql":
        detail.string("query", required=True)
    else:
        detail.string("content", required=True)
