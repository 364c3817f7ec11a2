"""The neutral result model every target translates from."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timezone
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from .ci import CIInfo

TRUNCATION_MARKER = "… [truncated {} characters]"


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def from_epoch(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, keeping head and tail with a visible marker."""
    if len(text) <= limit:
        return text
    marker = TRUNCATION_MARKER.format(len(text) - limit)
    keep = max(limit - len(marker), 0)
    head = keep * 2 // 3
    tail = keep - head
    return text[:head] + marker + (text[-tail:] if tail else "")


def truncate_lines(lines: list[str], limit: int) -> list[str]:
    """Keep the first and last lines of a long list, with one marker line between them."""
    if len(lines) <= limit:
        return lines
    head = limit // 2
    tail = limit - head - 1
    marker = f"… [truncated {len(lines) - head - tail} lines]"
    return [*lines[:head], marker, *lines[len(lines) - tail :]]


class Outcome(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"


class SessionStatus(str, enum.Enum):
    IN_PROGRESS = "in_progress"
    SUCCESSFUL = "successful"
    ERROR = "error"


class ResultKind(str, enum.Enum):
    TEST = "test"
    COLLECTION_ERROR = "collection_error"
    CRASH = "crash"


class _Model(BaseModel):
    model_config = ConfigDict(use_enum_values=False, extra="forbid")


class Step(_Model):
    """A step a test author marked with ``step()``; nested steps point at their parent."""

    id: str = Field(default_factory=new_id)
    parent_id: Optional[str] = None
    keyword: Optional[str] = None
    text: str
    started_at: datetime
    finished_at: Optional[datetime] = None
    result: Literal["passed", "failed"] = "passed"
    failure: Optional[str] = None

    @property
    def duration(self) -> float:
        if self.finished_at is None:
            return 0.0
        return (self.finished_at - self.started_at).total_seconds()


class Failure(_Model):
    """Why a test did not pass: the short message, the phase it happened in and the traceback."""

    message: str
    phase: str
    traceback: list[str] = Field(default_factory=list)


class TestResult(_Model):
    """One attempt of one test (or one collection error, or one crash)."""

    __test__ = False  # not a pytest test class

    uuid: str = Field(default_factory=new_id)
    nodeid: str
    path: str
    line: Optional[int] = None  # 1-based
    scopes: list[str] = Field(default_factory=list)
    name: str
    kind: ResultKind = ResultKind.TEST
    outcome: Outcome
    reason: Optional[str] = None
    failure: Optional[Failure] = None
    durations: dict[str, float] = Field(default_factory=dict)
    duration: float = 0.0
    started_at: datetime
    finished_at: datetime
    stdout: str = ""
    stderr: str = ""
    log: str = ""
    steps: list[Step] = Field(default_factory=list)
    metadata: list[tuple[str, str]] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    attempt: int = 1
    final: bool = True
    worker: Optional[str] = None

    def metadata_dict(self) -> dict[str, str | list[str]]:
        """Metadata as a mapping; a key given more than once maps to the list of its values."""
        out: dict[str, str | list[str]] = {}
        for key, value in self.metadata:
            if key not in out:
                out[key] = value
            elif isinstance(out[key], list):
                out[key].append(value)  # type: ignore[union-attr]
            else:
                out[key] = [out[key], value]  # type: ignore[list-item]
        return out


class Session(_Model):
    """One pytest run: where and when it ran, and what came of it."""

    uuid: str = Field(default_factory=new_id)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: Optional[datetime] = None
    status: SessionStatus = SessionStatus.IN_PROGRESS
    error_message: Optional[str] = None
    ci: CIInfo = Field(default_factory=CIInfo)
    rootdir: str = ""
    args: list[str] = Field(default_factory=list)
    hostname: str = ""
    python_version: str = ""
    pytest_version: str = ""
    plugin_version: str = ""
    tests_count: int = 0
    passed_count: int = 0
    failed_count: int = 0
    skipped_count: int = 0
    error_count: int = 0

    @property
    def duration(self) -> Optional[float]:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def count(self, result: TestResult) -> None:
        """Count a final attempt: each test once, as its final outcome."""
        if not result.final:
            return
        self.tests_count += 1
        outcome = result.outcome
        if outcome in (Outcome.PASSED, Outcome.XPASSED):
            self.passed_count += 1
        elif outcome is Outcome.FAILED:
            self.failed_count += 1
        elif outcome is Outcome.ERROR:
            self.error_count += 1
        else:
            self.skipped_count += 1

    def finish(self, interruption: Optional[str] = None) -> None:
        """Close the session: successful only when nothing failed, errored or interrupted it."""
        self.finished_at = utcnow()
        problems = []
        if self.failed_count:
            problems.append(f"{self.failed_count} failed")
        if self.error_count:
            problems.append(f"{self.error_count} error" + ("s" if self.error_count > 1 else ""))
        if interruption:
            problems.insert(0, interruption)
        if problems:
            self.status = SessionStatus.ERROR
            self.error_message = ", ".join(problems)
        else:
            self.status = SessionStatus.SUCCESSFUL
            self.error_message = None

    def summary(self) -> str:
        parts = [f"{self.tests_count} tests"]
        if self.failed_count:
            parts.append(f"{self.failed_count} failed")
        if self.error_count:
            parts.append(f"{self.error_count} error" + ("s" if self.error_count > 1 else ""))
        if self.skipped_count:
            parts.append(f"{self.skipped_count} skipped")
        return ", ".join(parts)
