"""The interface every target implements; the engine owns everything else."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from ..model import Session, TestResult, TestStart
from .limits import Deadline

if TYPE_CHECKING:
    from ..config import Settings


MAX_TEST_LINKS = 50  # per-test links kept per target: the job summary's failure rows


class Target(ABC):
    """Maps the model to one service (or store). No threads, no retry loops, no queues.

    Its options, credentials, reader and CLI verbs are declared by its spec
    (``targets/<name>/__init__.py``), which names this class.

    The engine calls, from background threads: ``open_session`` once, ``send_batch`` any
    number of times (concurrently when ``concurrency > 1``), ``close_session`` once. A failure
    is raised as a ``DeliveryError`` (HTTP targets get that from ``HttpClient``); the engine
    decides what to retry, split or spool. ``replay`` uses ``resume`` instead of
    ``open_session`` when the session was opened during the run.
    """

    name: ClassVar[str]
    batch_size: ClassVar[int] = 200
    batch_age: ClassVar[float] = 1.0  # seconds the oldest queued result may wait
    concurrency: ClassVar[int] = 1
    # Whether the engine spools batches while too many results wait (a service that cannot keep
    # up); a local store keeps up at disk speed and is never given up on for a backlog.
    spools_backlog: ClassVar[bool] = True
    # Whether the API wants to hear about a test when it starts (``send_start``).
    wants_starts: ClassVar[bool] = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        """Build the target, or raise ``pytest.UsageError`` naming what to set."""
        raise NotImplementedError

    def bind(self, deadline: Deadline) -> None:
        """Receive the run's end-of-run deadline (HTTP targets pass it to their client)."""
        self.deadline = deadline

    @abstractmethod
    def open_session(self, session: Session) -> None:
        """Create (or join) the session on the target."""

    def state(self) -> dict[str, Any]:
        """JSON-able facts replay needs to reach the opened session (e.g. its remote id)."""
        return {}

    def resume(self, state: dict[str, Any], session: Session) -> None:  # noqa: B027
        """Reattach to a session opened earlier (by the run whose spool is replayed)."""

    @abstractmethod
    def send_batch(self, session: Session, results: list[TestResult],
                   progress: dict[str, Any]) -> None:  # fmt: skip
        """Deliver results; idempotent on ``TestResult.uuid``.

        ``progress`` starts empty for a new batch and is kept with a spooled batch, so a
        target whose API needs several calls per result can record how far it got.
        """

    def plan(self, tests: int) -> None:  # noqa: B027
        """Collection is done: ``tests`` items will run (before the first of them does).

        Called once, from another thread than the sender's, possibly while ``open_session``
        runs (a target may wait in it for the plan, e.g. to choose how to send the session).
        """

    def send_start(self, session: Session, start: TestStart) -> None:  # noqa: B027
        """A test attempt started; best effort, never spooled (``send_batch`` must not rely on
        it having been delivered). The engine skips the start of a test whose result is queued
        already, and sends a result only once its start has returned."""

    @abstractmethod
    def close_session(self, session: Session) -> None:
        """Finish the session with its final status and counts."""

    def summary(self, session: Session) -> str:
        """One line for the terminal summary, after the session was closed."""
        return session.summary()

    def link(self) -> Optional[str]:
        """Where to see the session (a dashboard URL), when the target has one."""
        return None

    def test_links(self) -> dict[str, str]:
        """Result uuid -> where to see that test on the service, for failed and errored final
        attempts whose address the service's answers gave (at most MAX_TEST_LINKS, the first);
        the job summary links them. Only what the service returned, never a guessed URL."""
        return {}

    def sendable(self, seconds: float) -> Optional[int]:
        """How many more results the target's request budget can send within ``seconds``;
        None when no budget bounds it. The engine spools the rest at once at the end."""
        return None

    def abort(self) -> None:  # noqa: B027
        """Cut in-flight work short (the deadline passed); called from another thread."""

    def release(self) -> None:  # noqa: B027
        """Free connections and files at the end: called on the sender's thread when it ends,
        and from the thread ending the run for a sender stuck past the deadline. Idempotent."""
