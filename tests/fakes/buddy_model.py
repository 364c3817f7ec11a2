"""Buddy fake: state objects, request validation and small helpers."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from .base import RecordedRequest, Reject
from .checks import Fields, bad_text

CASE_STATUSES = ("PASSED", "FAILED", "SKIPPED", "ERROR")
CI_PROVIDERS = ("NONE", "BUDDY", "GITHUB_ACTION", "CIRCLE_CI")
REF_TYPES = ("BRANCH", "TAG", "PULL_REQUEST")
SESSION_STRINGS = (
    "ci_run_url",
    "revision",
    "ref_name",
    "run_id",
    "execution_id",
    "action_execution_id",
)
_ALNUM = string.ascii_letters + string.digits


def new_id() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(8))


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class BuddyCase:
    id: str
    name: str
    classname: str
    test_group_name: str
    test_group_id: str
    status: str
    time: float
    data: Optional[str]
    versions: int = 1  # 1 + the number of times an upsert replaced it


@dataclass
class BuddySession:
    id: str
    relative_id: int
    fields: dict[str, Any]  # the AddSessionRequest as received
    created: float  # monotonic
    create_date: str = field(default_factory=now_iso)
    status: str = "IN_PROGRESS"
    finish_date: Optional[str] = None
    error_message: Optional[str] = None
    duration: int = 0
    cases: dict[tuple[str, str, str], BuddyCase] = field(
        default_factory=dict
    )  # (group, class, name)
    groups: dict[str, str] = field(default_factory=dict)  # group name -> group id
    upserts: int = 0  # case writes that replaced an existing case
    batch_sizes: list[int] = field(default_factory=list)
    close_bodies: list[Any] = field(default_factory=list)
    reopen_count: int = 0

    @property
    def closed(self) -> bool:
        return self.status != "IN_PROGRESS"

    def count(self, status: str) -> int:
        return sum(1 for c in self.cases.values() if c.status == status)

    def case(self, name: str) -> BuddyCase:
        """The one case called ``name`` (AssertionError if none or several)."""
        found = [c for c in self.cases.values() if c.name == name]
        assert len(found) == 1, f"{len(found)} cases named {name!r}"
        return found[0]


def text_field(body: Fields, key: str, required: bool = False) -> Optional[str]:
    value = body.string(key, required=required, nonblank=required)
    if value is not None:
        problem = bad_text(value)
        if problem:
            raise body.fail(key, problem)
    return value


def validate_case(value: Any, where: str) -> dict[str, Any]:
    """AddTestCaseRequest: name, classname, test_group_name, status, time required; data string."""
    body = Fields(value, where)
    case = {
        key: text_field(body, key, required=True)
        for key in ("name", "classname", "test_group_name")
    }
    case["status"] = body.enum("status", CASE_STATUSES, required=True)
    case["time"] = body.number("time", required=True, minimum=0)
    case["data"] = text_field(body, "data")
    return case


def positive_param(rec: RecordedRequest, name: str, default: int) -> int:
    raw = rec.param(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise Reject(400, f"{name} must be a positive integer, got {raw!r}")
    return int(raw)
