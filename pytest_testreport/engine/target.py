"""The interface every target implements; the engine owns everything else."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from ..model import Session, TestResult


class Target(ABC):
    """Maps the model to one service (or store). No threads, no retry loops, no queues.

    The engine calls these from one background thread per target, in order:
    ``open_session`` once, ``send_batch`` any number of times, ``close_session`` once.
    """

    name: ClassVar[str]
    batch_size: ClassVar[int] = 200
    batch_age: ClassVar[float] = 1.0  # seconds the oldest queued result may wait

    @abstractmethod
    def open_session(self, session: Session) -> None:
        """Create (or join) the session on the target."""

    @abstractmethod
    def send_batch(self, session: Session, results: list[TestResult]) -> None:
        """Deliver results; must be idempotent on ``TestResult.uuid``."""

    @abstractmethod
    def close_session(self, session: Session) -> None:
        """Finish the session with its final status and counts."""

    def summary(self, session: Session) -> str:
        """One line for the terminal summary, after the session was closed."""
        return f"session {session.uuid} — {session.summary()}"
