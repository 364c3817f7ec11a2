"""BrowserStack ``/ext/v1`` request validation: every documented limit is a 400 here.

Limits from ``../shared/reference/browserstack.md`` §3.8. Lengths are characters. Where the
docs give no type, the fake is strict in the direction the interface decisions chose
(``custom_metadata`` values are strings or arrays of strings; ``environment`` has only the
five documented fields).
"""

from __future__ import annotations

from typing import Any, Optional

from .base import Reject
from .checks import Fields

RESULTS = ("passed", "failed", "skipped", "timeout")
LOG_KINDS = ("TEST_LOG", "HTTP", "TEST_SCREENSHOT", "HOOK_LOG", "TEST_STEP", "TEST_ATTACHMENT")
ATTACHMENT_TYPES = ("MANUAL_UPLOAD", "AUTO_UPLOAD", "SCREENSHOT", "LOG_FILE")
ENVIRONMENT_LIMITS = {
    "device": 100,
    "os": 100,
    "os_version": 50,
    "browser": 100,
    "browser_version": 50,
}

NAME_MAX = 500
FILE_MAX = 1000  # file_name, location, vc_filepath
SCOPES_MAX, SCOPE_MAX = 20, 100
TAGS_MAX, TAG_MAX = 50, 100
SHORT_MAX = 50  # result at start, hook_type
META_KEYS_MAX, META_VALUES_MAX, META_LEN_MAX = 25, 10, 500
FAILURES_MAX, BACKTRACE_LINES_MAX, BACKTRACE_LINE_MAX = 100, 1000, 2000
STEP_FAILURE_MAX = 5000
LOGS_MAX, LOG_MESSAGE_MAX = 500, 10000
BUILD_NAME_MAX, BUILD_RUN_ID_MAX = 255, 64


def build_start(value: Any) -> dict[str, Any]:
    body = Fields(value)
    body.string("name", required=True, max_len=BUILD_NAME_MAX)
    body.string("project_name", required=True, max_len=BUILD_NAME_MAX)
    body.timestamp("started_at", required=True)
    body.strings("tags", max_items=TAGS_MAX)
    body.string("build_run_identifier", max_len=BUILD_RUN_ID_MAX)
    for key in ("host_info", "ci_info", "version_control"):
        body.obj(key)
    framework = body.obj("framework")
    if framework is not None:
        framework.string("name", required=True)
        framework.string("version", required=True)
    return body.data


def build_finish(value: Any) -> dict[str, Any]:
    body = Fields(value)
    body.timestamp("finished_at", required=True)
    return body.data


def build_tags(value: Any) -> list[str]:
    body = Fields(value)
    tags = body.strings("build_tags", required=True, max_items=TAGS_MAX)
    assert tags is not None
    return tags


def run_start(value: Any, hook: bool) -> dict[str, Any]:
    """Test run start (§3.3) or hook run start (§3.5)."""
    body = Fields(value)
    if hook:
        body.string("hook_type", required=True, max_len=SHORT_MAX)
        body.string("test_run_id")
    body.string("name", required=True, max_len=NAME_MAX)
    _file_and_scopes(body)
    body.timestamp("started_at", required=True)
    body.strings("tags", max_items=TAGS_MAX, max_len=TAG_MAX)
    body.string("location", max_len=FILE_MAX)
    body.string("vc_filepath", max_len=FILE_MAX)
    body.string("result", max_len=SHORT_MAX)
    _metadata(body)
    _environment(body)
    code = body.obj("body")
    if code is not None:
        code.string("lang")
    return body.data


def run_finish(value: Any, hook: bool) -> dict[str, Any]:
    """Test run finish (§3.4) or hook run finish (§3.6)."""
    body = Fields(value)
    if hook:
        body.string("hook_type", required=True, max_len=SHORT_MAX)
    body.enum("result", RESULTS, required=True)
    body.timestamp("finished_at", required=True)
    _file_and_scopes(body)
    body.integer("duration_in_ms", positive=True)
    _failures(body.array("failure", max_items=FAILURES_MAX), body.name("failure"))
    _metadata(body)
    _environment(body)
    if not hook:
        body.strings("hooks")
        meta = body.obj("meta")
        if meta is not None:
            _steps(meta.array("steps"), meta.name("steps"))
    return body.data


def logs(value: Any) -> list[dict[str, Any]]:
    body = Fields(value)
    entries = body.array("logs", required=True, min_items=1, max_items=LOGS_MAX)
    assert entries is not None
    for i, entry in enumerate(entries):
        log = Fields(entry, f"logs[{i}]")
        log.enum("kind", LOG_KINDS, required=True)
        log.string("test_run_uuid")
        log.string("hook_run_uuid")
        log.timestamp("timestamp")
        log.string("level")
        log.string("message", max_len=LOG_MESSAGE_MAX)
        log.number("duration", minimum=0)
        failure = log.get("failure", required=False)
        if failure is not None and not isinstance(failure, bool):
            raise log.fail("failure", "must be a boolean")
        log.string("file_name", max_len=FILE_MAX)
        log.integer("file_size")
        log.enum("attachment_type", ATTACHMENT_TYPES)
        http = log.obj("http_response")
        if http is not None:
            status = http.integer("status_code")
            if status is not None and not 100 <= status <= 599:
                raise http.fail("status_code", f"must be between 100 and 599, got {status}")
            http.string("method")
    return entries


def _file_and_scopes(body: Fields) -> None:
    body.string("file_name", required=True, max_len=FILE_MAX)
    body.strings("scopes", required=True, min_items=1, max_items=SCOPES_MAX, max_len=SCOPE_MAX)


def _metadata(body: Fields) -> None:
    meta = body.obj("custom_metadata")
    if meta is None:
        return
    where = meta.where
    if len(meta.data) > META_KEYS_MAX:
        raise Reject(
            400, f"{where} has too many keys (maximum is {META_KEYS_MAX}, got {len(meta.data)})"
        )
    for key, value in meta.data.items():
        if len(key) > META_LEN_MAX:
            raise Reject(
                400, f"{where} key {key[:40]!r}... is too long (maximum is {META_LEN_MAX})"
            )
        if isinstance(value, list):
            meta.strings(key, max_items=META_VALUES_MAX, max_len=META_LEN_MAX)
        elif isinstance(value, str):
            meta.string(key, max_len=META_LEN_MAX)
        else:
            raise meta.fail(key, "must be a string or an array of strings")


def _environment(body: Fields) -> None:
    env = body.obj("environment")
    if env is None:
        return
    for key in env.data:
        if key not in ENVIRONMENT_LIMITS:
            raise env.fail(key, f"is not an environment field ({', '.join(ENVIRONMENT_LIMITS)})")
    for key, limit in ENVIRONMENT_LIMITS.items():
        env.string(key, max_len=limit)


def _failures(entries: Optional[list[Any]], where: str) -> None:
    for i, entry in enumerate(entries or []):
        failure = Fields(entry, f"{where}[{i}]")
        failure.strings(
            "backtrace", required=True, max_items=BACKTRACE_LINES_MAX, max_len=BACKTRACE_LINE_MAX
        )


def _steps(steps: Optional[list[Any]], where: str) -> None:
    seen: set[Any] = set()
    for i, entry in enumerate(steps or []):
        step = Fields(entry, f"{where}[{i}]")
        step_id = step.get("id", required=True)
        if not isinstance(step_id, (str, int)) or isinstance(step_id, bool):
            raise step.fail("id", "must be a string or an integer")
        if step_id in seen:
            raise step.fail("id", f"{step_id!r} is not unique within the test run")
        seen.add(step_id)
        step.string("keyword")
        step.string("text")
        step.timestamp("started_at")
        step.timestamp("finished_at")
        step.enum("result", RESULTS)
        step.number("duration", minimum=0)
        step.string("failure", max_len=STEP_FAILURE_MAX)
