"""The neutral result model every target translates from.

The classes are plain dataclasses, so that building one per test costs about a microsecond on
the test's thread; pydantic validates and serializes them (``model_validate``,
``model_dump``) where data crosses a boundary: the spool, replay and the CLI. pydantic is
imported only then, which keeps it off the start-up of every pytest run.

A test's identity (``TestId``) is split from its node id once, here, and shared by its start
and its result. A result keeps its failures as a list, one per failing phase or subtest
(``failures.py`` renders them as one text, or per phase, for the targets).
"""

from __future__ import annotations

import copy
import enum
import functools
import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Optional, TypeVar

from .ci import CIInfo
from .failures import from_joined, joined

__all__ = [
    "COUNT_FIELDS",
    "Failure",
    "FixtureRun",
    "LogEntry",
    "Outcome",
    "ResultKind",
    "Session",
    "SessionStatus",
    "Step",
    "TestId",
    "TestResult",
    "TestStart",
    "from_epoch",
    "new_id",
    "split_nodeid",
    "utcnow",
]

M = TypeVar("M", bound="_Model")
# Result ids must be unique and stable, not secret: a random UUIDv4-shaped prefix per process
# and a counter in the last 48 bits cost a fraction of uuid4() on the test's thread.
_PREFIX = str(uuid.UUID(int=random.getrandbits(128), version=4))[:24]
_counter = itertools.count(random.getrandbits(40))


def new_id() -> str:
    """A UUID (v4 layout): random per process, then counted; unique within and across runs."""
    return f"{_PREFIX}{next(_counter) & 0xFFFFFFFFFFFF:012x}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


_UTC = timezone.utc
_fromtimestamp = datetime.fromtimestamp  # bound once: this runs twice per test, and more


def from_epoch(ts: float) -> datetime:
    return _fromtimestamp(ts, _UTC)


@functools.cache
def _adapter(cls: type) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


class _Model:
    """pydantic validation and serialization for a model dataclass."""

    @classmethod
    def model_validate(cls: type[M], data: Any) -> M:
        return _adapter(cls).validate_python(cls._upgrade(data))

    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Data written by an older version, in today's shape (the spool outlives upgrades)."""
        return data

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return _adapter(type(self)).dump_python(self, mode=mode)

    def model_copy(self: M, deep: bool = False) -> M:
        return copy.deepcopy(self) if deep else copy.copy(self)


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


@dataclass
class Step(_Model):
    """A step a test author marked with ``step()``; nested steps point at their parent."""

    text: str
    started_at: datetime
    id: str = field(default_factory=new_id)
    parent_id: Optional[str] = None
    keyword: Optional[str] = None
    finished_at: Optional[datetime] = None
    result: Literal["passed", "failed"] = "passed"
    failure: Optional[str] = None

    @property
    def duration(self) -> float:
        if self.finished_at is None:
            return 0.0
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class FixtureRun(_Model):
    """One fixture setup that ran, or one fixture finalization, during a test's phases.

    ``phase`` says which of the two it is; a finalization's start is the end of the previous
    one in the same phase (or the phase's start): pytest reports only its end.
    """

    name: str
    scope: str  # session, package, module, class or function
    phase: Literal["setup", "teardown"]
    started_at: datetime
    finished_at: datetime
    failure: Optional[str] = None

    @property
    def duration(self) -> float:
        return max(0.0, (self.finished_at - self.started_at).total_seconds())


@dataclass
class LogEntry(_Model):
    """A captured log record with its own time (bounded: 10,000 characters, 500 per phase)."""

    timestamp: datetime
    level: str
    message: str


@dataclass
class Failure(_Model):
    """Why a phase of a test did not pass: the short message, the phase and the traceback.

    ``phase`` is ``setup``, ``call``, ``teardown``, ``collect``, ``crash`` or ``subtest``.
    """

    message: str
    phase: str
    traceback: list[str] = field(default_factory=list)


def split_nodeid(nodeid: str) -> list[str]:
    """``path::Class::test[param]`` -> its parts; ``::`` inside a parameter id is not a split."""
    if "[" not in nodeid:  # most node ids
        return nodeid.split("::")
    base, bracket, params = nodeid.partition("[")
    parts = base.split("::")
    parts[-1] += bracket + params
    return parts


@dataclass(frozen=True)
class TestId(_Model):
    """Which test: its node id, file, name, line and scopes (the file, then each class)."""

    __test__ = False  # not a pytest test class

    nodeid: str
    path: str
    name: str
    line: Optional[int] = None  # 1-based
    scopes: tuple[str, ...] = ()

    @classmethod
    def of(cls, nodeid: str, location: Optional[tuple[Any, ...]] = None) -> TestId:
        """The identity of a test item from its node id and pytest's ``(path, 0-based line,
        domain)`` location (a missing path falls back to the node id's)."""
        parts = split_nodeid(nodeid)
        path, lineno = (location[0], location[1]) if location else (None, None)
        line = lineno + 1 if isinstance(lineno, int) else None
        return cls(nodeid, path or parts[0], parts[-1], line, tuple(parts[:-1]))

    @classmethod
    def of_file(cls, nodeid: str) -> TestId:
        """The identity of a file that failed to collect: named after the file, no scopes."""
        path = nodeid.split("::")[0]
        return cls(nodeid, path, path.rsplit("/", 1)[-1])


class _Tested(_Model):
    """Reading a start's or result's identity directly: ``item.nodeid`` is ``item.test.nodeid``."""

    test: TestId

    @property
    def nodeid(self) -> str:
        return self.test.nodeid

    @property
    def path(self) -> str:
        return self.test.path

    @property
    def name(self) -> str:
        return self.test.name

    @property
    def line(self) -> Optional[int]:
        return self.test.line

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.test.scopes

    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Before the ``test`` field, the identity was flat: ``nodeid``, ``path``, ``line``...

        ``name`` and ``scopes`` were not on a start: they come from the node id then.
        """
        if not isinstance(data, dict) or "test" in data or "nodeid" not in data:
            return data
        data = dict(data)
        split = TestId.of(data.pop("nodeid"))
        path, line = data.pop("path", None) or split.path, data.pop("line", None)
        name, scopes = data.pop("name", split.name), tuple(data.pop("scopes", split.scopes))
        data["test"] = TestId(split.nodeid, path, name, line, scopes)
        return data


@dataclass(eq=False)
class TestResult(_Tested):
    """One attempt of one test (or one collection error, or one crash).

    ``failures`` are in the order they happened: a failing phase each (setup, call, teardown,
    collect, crash) and each failed subtest. ``failure`` is all of them as one text.
    """

    __test__ = False  # not a pytest test class

    test: TestId
    outcome: Outcome
    started_at: datetime
    finished_at: datetime
    uuid: str = field(default_factory=new_id)
    kind: ResultKind = ResultKind.TEST
    reason: Optional[str] = None
    failures: list[Failure] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    duration: float = 0.0
    stdout: str = ""
    stderr: str = ""
    log: str = ""
    steps: list[Step] = field(default_factory=list)
    fixtures: list[FixtureRun] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    metadata: list[tuple[str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    attempt: int = 1
    final: bool = True
    worker: Optional[str] = None

    @property
    def failure(self) -> Optional[Failure]:
        """The failures as one (a new object each time): what most targets show."""
        return joined(self.failures)

    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Also reads the single ``failure`` of older versions into ``failures``."""
        data = super()._upgrade(data)
        if isinstance(data, dict) and "failure" in data:
            data = dict(data)
            failure = data.pop("failure")
            if failure is not None:
                data["failures"] = from_joined(Failure.model_validate(failure))
        return data


@dataclass(eq=False)
class TestStart(_Tested):
    """A test attempt has started: its setup was reported (for targets that want it live).

    ``uuid`` is the id the attempt's ``TestResult`` will carry.
    """

    __test__ = False  # not a pytest test class

    uuid: str
    test: TestId
    started_at: datetime
    attempt: int = 1
    tags: list[str] = field(default_factory=list)
    metadata: list[tuple[str, str]] = field(default_factory=list)


# The session's counts (``Session.count``), in the order the JSON and the store list them.
COUNT_FIELDS = ("tests_count", "passed_count", "failed_count", "skipped_count", "error_count")


@dataclass(eq=False)
class Session(_Model):
    """One pytest run: where and when it ran, and what came of it."""

    uuid: str = field(default_factory=new_id)
    started_at: datetime = field(default_factory=utcnow)
    finished_at: Optional[datetime] = None
    status: SessionStatus = SessionStatus.IN_PROGRESS
    error_message: Optional[str] = None
    ci: CIInfo = field(default_factory=CIInfo)
    rootdir: str = ""
    args: list[str] = field(default_factory=list)
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
        problems = ([interruption] if interruption else []) + self._problems()
        if problems:
            self.status = SessionStatus.ERROR
            self.error_message = ", ".join(problems)
        else:
            self.status = SessionStatus.SUCCESSFUL
            self.error_message = None

    def _problems(self) -> list[str]:
        """``3 failed``, ``1 error``: what makes the session an error, as people read it."""
        problems = []
        if self.failed_count:
            problems.append(f"{self.failed_count} failed")
        if self.error_count:
            problems.append(f"{self.error_count} error" + ("s" if self.error_count > 1 else ""))
        return problems

    def summary(self) -> str:
        parts = [f"{self.tests_count} tests", *self._problems()]
        if self.skipped_count:
            parts.append(f"{self.skipped_count} skipped")
        return ", ".join(parts)
