"""What test authors call: ``step()``, ``metadata()`` and the ``testreport`` fixture.

Steps and metadata are buffered in the process that runs the test and attached to that
test's phase reports, so under xdist they travel to the controller with the report itself.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
import warnings
from typing import Any, Callable, Optional, TypeVar

from .text import truncate

F = TypeVar("F", bound=Callable[..., Any])

EXTRA_ATTR = "testreport_extra"  # our data on a report; plain types so xdist can ship it
MAX_STEP_TEXT = 1000
MAX_STEP_FAILURE = 5000
MAX_METADATA_VALUE = 2000


class TestReportWarning(UserWarning):
    """A notice of ours: a step or metadata call not recorded, TLS verification off."""

    __test__ = False


def warn(message: str, stacklevel: int = 2) -> None:
    """Emit a ``TestReportWarning`` that never raises.

    A filter that turns it into an error (``-W error``) would break the run (INTERNALERROR
    at start-up, a failed import in a conftest) over a notice: it is shown instead. A filter
    that ignores it still does.
    """
    try:
        warnings.warn(message, TestReportWarning, stacklevel=stacklevel + 1)
    except TestReportWarning:
        with warnings.catch_warnings():
            warnings.simplefilter("always", TestReportWarning)
            warnings.warn(message, TestReportWarning, stacklevel=stacklevel + 1)


class _Recorder:
    """Per-process buffer of the running test's steps and metadata."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = False
        self._steps: list[dict[str, Any]] = []
        self._metadata: list[tuple[str, str]] = []
        self._stack = threading.local()

    def begin(self) -> None:
        with self._lock:
            self._active = True
            if self._steps or self._metadata:  # recorded after the last drain: not this test's
                self._steps, self._metadata = [], []

    def end(self) -> None:
        with self._lock:
            self._active = False

    def drain(self) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """Hand over what was recorded since the last drain (one phase's worth)."""
        if not self._steps and not self._metadata:
            # Most phases record nothing: skip the lock. A record added concurrently lands
            # in the next drain, as it would had it taken the lock after this one.
            return [], []
        with self._lock:
            steps, metadata = self._steps, self._metadata
            self._steps, self._metadata = [], []
        return steps, metadata

    def _open_steps(self) -> list[dict[str, Any]]:
        stack = getattr(self._stack, "steps", None)
        if stack is None:
            stack = self._stack.steps = []
        return stack

    def _usable(self, what: str) -> bool:
        if not self._active:
            warn(f"testreport: {what} called outside a running test; ignored", stacklevel=4)
        return self._active

    def add_metadata(self, key: str, value: Any) -> None:
        if not self._usable("metadata()"):
            return
        with self._lock:
            self._metadata.append((str(key), truncate(str(value), MAX_METADATA_VALUE)))

    def open_step(self, text: str, keyword: Optional[str]) -> Optional[dict[str, Any]]:
        if not self._usable("step()"):
            return None
        stack = self._open_steps()
        record = {
            "id": str(uuid.uuid4()),
            "parent_id": stack[-1]["id"] if stack else None,
            "keyword": keyword,
            "text": truncate(str(text), MAX_STEP_TEXT),
            "start": time.time(),
            "stop": None,
            "result": "passed",
            "failure": None,
        }
        stack.append(record)
        return record

    def close_step(self, record: Optional[dict[str, Any]], error: Optional[BaseException]) -> None:
        if record is None:
            return
        stack = self._open_steps()
        if stack and stack[-1] is record:
            stack.pop()
        record["stop"] = time.time()
        if error is not None:
            record["result"] = "failed"
            record["failure"] = truncate(f"{type(error).__name__}: {error}", MAX_STEP_FAILURE)
        with self._lock:
            if self._active:
                self._steps.append(record)


recorder = _Recorder()


class step:
    """Mark a step of the running test, as a context manager or a decorator.

    A step that raises is recorded as failed and the exception propagates unchanged.
    """

    def __init__(self, text: str, keyword: Optional[str] = None) -> None:
        self.text = text
        self.keyword = keyword
        self._records: list[Optional[dict[str, Any]]] = []

    def __enter__(self) -> step:
        self._records.append(recorder.open_step(self.text, self.keyword))
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        recorder.close_step(self._records.pop(), exc)

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with step(self.text, self.keyword):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def metadata(key: str, value: Any) -> None:
    """Attach a key/value pair to the running test."""
    recorder.add_metadata(key, value)


class TestReportFixture:
    """The ``testreport`` fixture: the same calls, for those who prefer a fixture."""

    __test__ = False

    def step(self, text: str, keyword: Optional[str] = None) -> step:
        return step(text, keyword)

    def metadata(self, key: str, value: Any) -> None:
        recorder.add_metadata(key, value)
