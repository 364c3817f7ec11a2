"""Valid request payloads for the fakes; keyword arguments override fields (``None`` drops one)."""

from __future__ import annotations

import uuid
from typing import Any

TS = "2025-11-11T10:30:10Z"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = {**base, **over}
    return {k: v for k, v in out.items() if v is not None}


def buddy_case(name: str = "test_login[admin]", **over: Any) -> dict[str, Any]:
    """An AddTestCaseRequest."""
    base = {
        "name": name,
        "classname": "tests.test_auth.TestLogin",
        "test_group_name": "tests/test_auth.py",
        "status": "PASSED",
        "time": 0.25,
        "data": '<testcase name="x"/>',
    }
    return _merge(base, over)


def bs_build(**over: Any) -> dict[str, Any]:
    base = {
        "name": "pytest",
        "project_name": "fake-project",
        "started_at": TS,
        "tags": ["ci"],
        "build_run_identifier": "gha-1-1",
        "framework": {"name": "pytest", "version": "9.2.0"},
    }
    return _merge(base, over)


def bs_test_start(name: str = "test_login[admin]", **over: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "file_name": "tests/test_auth.py",
        "scopes": ["tests/test_auth.py", "TestLogin"],
        "started_at": TS,
        "location": "tests/test_auth.py:42",
        "tags": ["smoke"],
        "custom_metadata": {"attempt": "1"},
    }
    return _merge(base, over)


def bs_test_finish(result: str = "passed", **over: Any) -> dict[str, Any]:
    base = {
        "result": result,
        "finished_at": TS,
        "file_name": "tests/test_auth.py",
        "scopes": ["tests/test_auth.py", "TestLogin"],
        "duration_in_ms": 12,
    }
    return _merge(base, over)


def bs_hook_start(hook_type: str = "beforeEach", **over: Any) -> dict[str, Any]:
    return _merge({**bs_test_start("setup"), "hook_type": hook_type}, over)


def bs_hook_finish(hook_type: str = "beforeEach", **over: Any) -> dict[str, Any]:
    return _merge({**bs_test_finish(), "hook_type": hook_type}, over)


def bk_execution(name: str = "test_login[admin]", **over: Any) -> dict[str, Any]:
    """One Buildkite ``data[]`` record with a fresh ``id``."""
    base = {
        "id": str(uuid.uuid4()),
        "scope": "tests/test_auth.py::TestLogin",
        "name": name,
        "location": "tests/test_auth.py:42",
        "file_name": "tests/test_auth.py",
        "result": "passed",
        "history": {"section": "top", "start_at": 1.0, "end_at": 1.5, "duration": 0.5},
    }
    return _merge(base, over)


def bk_upload(key: str = "run-1", data: Any = None, **over: Any) -> dict[str, Any]:
    base = {
        "format": "json",
        "run_env": {"CI": "generic", "key": key, "branch": "main", "commit_sha": "abc123"},
        "data": data if data is not None else [bk_execution()],
    }
    return _merge(base, over)


# -- invalid variants: (case id, override(s), fragment of the 400 message) -------------------------
def _long(n: int) -> str:
    return "x" * n


#: Buddy AddTestCaseRequest fields the fake rejects.
BUDDY_INVALID_CASES = [
    ("name-missing", {"name": None}, "name is required"),
    ("classname-blank", {"classname": " "}, "classname must not be blank"),
    ("group-missing", {"test_group_name": None}, "test_group_name is required"),
    ("status-lowercase", {"status": "passed"}, "status must be one of"),
    ("time-string", {"time": "0.1"}, "time must be a number"),
    ("time-negative", {"time": -1}, "time must be >= 0"),
    ("data-number", {"data": 5}, "data must be a string"),
    ("nul-in-name", {"name": "bad\x00name"}, "control character U+0000"),
    ("ansi-in-data", {"data": "\x1b[31mred"}, "control character U+001B"),
    ("lone-surrogate", {"name": "\ud800"}, "not valid UTF-8"),
]

#: BrowserStack: (id, endpoint, override, fragment). Endpoints: build, test, finish, hook,
#: hook_finish, logs (``{"logs": [...]}`` built from the override's ``logs`` value).
BS_LIMITS = [
    ("build-name", "build", {"name": _long(256)}, "name is too long (maximum is 255"),
    ("build-project", "build", {"project_name": _long(256)}, "project_name is too long"),
    ("build-started", "build", {"started_at": None}, "started_at is required"),
    ("build-started-iso", "build", {"started_at": "yesterday"}, "ISO 8601"),
    ("build-tags", "build", {"tags": ["t"] * 51}, "tags has too many items (maximum is 50"),
    ("build-run-id", "build", {"build_run_identifier": _long(65)}, "maximum is 64"),
    ("framework", "build", {"framework": {"name": "pytest"}}, "framework.version is required"),
    ("test-name", "test", {"name": _long(501)}, "name is too long (maximum is 500"),
    ("file-name", "test", {"file_name": _long(1001)}, "file_name is too long (maximum is 1000"),
    ("location", "test", {"location": _long(1001)}, "location is too long (maximum is 1000"),
    ("vc-filepath", "test", {"vc_filepath": _long(1001)}, "vc_filepath is too long"),
    ("scopes-empty", "test", {"scopes": []}, "scopes must have at least 1"),
    ("scopes-count", "test", {"scopes": ["s"] * 21}, "scopes has too many items (maximum is 20"),
    ("scope-length", "test", {"scopes": [_long(101)]}, "scopes[0] is too long (maximum is 100"),
    ("test-tags", "test", {"tags": ["t"] * 51}, "tags has too many items (maximum is 50"),
    ("test-tag-len", "test", {"tags": [_long(101)]}, "tags[0] is too long (maximum is 100"),
    ("start-result", "test", {"result": _long(51)}, "result is too long (maximum is 50"),
    ("meta-keys", "test", {"custom_metadata": {f"k{i}": "v" for i in range(26)}}, "maximum is 25"),
    ("meta-values", "test", {"custom_metadata": {"k": ["v"] * 11}}, "maximum is 10"),
    ("meta-value-len", "test", {"custom_metadata": {"k": _long(501)}}, "maximum is 500"),
    ("meta-key-len", "test", {"custom_metadata": {_long(501): "v"}}, "maximum is 500"),
    ("meta-type", "test", {"custom_metadata": {"k": 1}}, "must be a string or an array"),
    ("env-device", "test", {"environment": {"device": _long(101)}}, "device is too long"),
    ("env-os", "test", {"environment": {"os": _long(101)}}, "os is too long (maximum is 100"),
    ("env-os-version", "test", {"environment": {"os_version": _long(51)}}, "maximum is 50"),
    ("env-browser", "test", {"environment": {"browser": _long(101)}}, "browser is too long"),
    ("env-browser-v", "test", {"environment": {"browser_version": _long(51)}}, "maximum is 50"),
    ("env-unknown", "test", {"environment": {"gpu": "x"}}, "is not an environment field"),
    ("result-enum", "finish", {"result": "error"}, "result must be one of"),
    ("finished-at", "finish", {"finished_at": None}, "finished_at is required"),
    ("finish-scopes", "finish", {"scopes": None}, "scopes is required"),
    ("duration-zero", "finish", {"duration_in_ms": 0}, "must be a positive integer"),
    ("duration-float", "finish", {"duration_in_ms": 1.5}, "must be an integer"),
    ("failures", "finish", {"failure": [{"backtrace": ["x"]}] * 101}, "maximum is 100"),
    ("bt-lines", "finish", {"failure": [{"backtrace": ["x"] * 1001}]}, "maximum is 1000"),
    ("bt-line", "finish", {"failure": [{"backtrace": [_long(2001)]}]}, "maximum is 2000"),
    ("bt-missing", "finish", {"failure": [{}]}, "failure[0].backtrace is required"),
    ("finish-env", "finish", {"environment": {"os": _long(101)}}, "os is too long"),
    ("step-failure", "finish", {"meta": {"steps": [{"id": 1, "failure": _long(5001)}]}}, "5000"),
    ("step-id", "finish", {"meta": {"steps": [{"text": "x"}]}}, "steps[0].id is required"),
    ("step-dup", "finish", {"meta": {"steps": [{"id": 1}, {"id": 1}]}}, "not unique"),
    ("hook-type-len", "hook", {"hook_type": _long(51)}, "hook_type is too long"),
    ("hook-type", "hook", {"hook_type": None}, "hook_type is required"),
    ("hook-name", "hook", {"name": _long(501)}, "name is too long (maximum is 500"),
    ("hook-finish-type", "hook_finish", {"hook_type": "afterEach"}, "differs from the start"),
    ("hook-result", "hook_finish", {"result": "ok"}, "result must be one of"),
    ("logs-count", "logs", {"logs": [{"kind": "TEST_LOG"}] * 501}, "maximum is 500"),
    ("logs-empty", "logs", {"logs": []}, "logs must have at least 1"),
    ("log-message", "logs", {"logs": [{"kind": "TEST_LOG", "message": _long(10001)}]}, "10000"),
    ("log-kind", "logs", {"logs": [{"kind": "CONSOLE"}]}, "kind must be one of"),
    ("log-http", "logs", {"logs": [{"kind": "HTTP", "http_response": {"status_code": 600}}]},
     "between 100 and 599"),
]  # fmt: skip

_TAGS11 = {f"k{i}": "v" for i in range(11)}

#: Buildkite records that are skipped (partial ingestion): (id, override, fragment).
BK_INVALID_RECORDS = [
    ("name", {"name": None}, "name is required"),
    ("history", {"history": None}, "history is required"),
    ("start-at", {"history": {"duration": 0.1}}, "history.start_at is required"),
    ("duration", {"history": {"start_at": 1.0}}, "history.duration is required"),
    ("result", {"result": "error"}, "result must be one of"),
    ("fx-backtrace", {"failure_expanded": [{"expanded": ["e"]}]}, "backtrace is required"),
    ("fx-expanded", {"failure_expanded": [{"backtrace": ["b"]}]}, "expanded is required"),
    ("tag-count", {"tags": _TAGS11}, "at most 10 tags"),
    ("tag-key-start", {"tags": {"1abc": "v"}}, "must start with a letter"),
    ("tag-key-chars", {"tags": {"a b": "v"}}, "must start with a letter"),
    ("tag-key-bytes", {"tags": {"k" * 64: "v"}}, "shorter than 64 bytes"),
    ("tag-value-bytes", {"tags": {"k": "é" * 64}}, "maximum is 127 bytes"),
    ("tag-value-blank", {"tags": {"k": " "}}, "must not be blank"),
    ("tag-value-type", {"tags": {"k": 5}}, "must be a string"),
    ("tag-prefix", {"tags": {"service": "a", "service.instance": "b"}}, "is a prefix of"),
    ("tag-mut", {"tags": {"mut.owner": "x"}}, "reserved for mutable tags"),
    ("span-section", {"history": {"start_at": 1, "duration": 1, "children": [
        {"section": "io", "duration": 1}]}}, "section must be one of"),
    ("span-http", {"history": {"start_at": 1, "duration": 1, "children": [
        {"section": "http", "duration": 1, "detail": {"method": "GET", "url": "u"}}]}},
     "detail.lib is required"),
]  # fmt: skip
