"""One interface for delivery, whichever way it runs: ``Delivery``, and ``open_delivery``.

The controller hands model objects (``TestResult``, ``TestStart``) to a ``Delivery`` and never
learns which kind it holds: the in-process engine (``testreport_delivery = thread``, inprocess.py)
or the delivery process (the default, process.py). Nothing here sees a pytest report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable

from ..model import Session, TestResult, TestStart
from .state import SenderState

if TYPE_CHECKING:
    from ..config import Settings
    from .target import Target

Item = Union[TestResult, TestStart]


@runtime_checkable
class Delivery(Protocol):
    """Where the controller's feeder hands results over, and what it says at the end.

    ``start`` and ``submit_items`` are called on the feeder's thread, never the test's: a kind
    may block there (the delivery process waits for its child to be ready). ``finish`` is
    called once, after the feeder drained.
    """

    @property
    def wants_starts(self) -> bool:
        """Whether any target takes live starts: only then does the feeder make them."""
        ...

    def start(self, session: Session) -> None:
        """Open every target's session. ``session`` is the object the controller counts into."""
        ...

    def plan(self, tests: int) -> None:
        """The collected test count, once, after ``start`` and before the tests' results
        (``Target.plan``: BrowserStack chooses its lane by it)."""
        ...

    def submit_items(self, items: Iterable[Item]) -> None:
        """Results and starts, in order; an empty batch is a chance for housekeeping."""
        ...

    def finish(self, session: Session, timeout: float) -> list[SenderState]:
        """Close every session with the final ``session``; never wait past ``timeout``."""
        ...


def open_delivery(settings: Settings, targets: list[Target]) -> Delivery:
    """The kind ``testreport_delivery`` names, ready to ``start``.

    The delivery process is launched now (at configure): its start-up overlaps collection.
    """
    if settings.delivery == "thread":
        from .inprocess import Engine
        from .scrub import content_secrets

        return Engine(targets, settings.spool_path, content_secrets(settings))
    from .process import DeliveryProcess

    process = DeliveryProcess(settings, targets)
    process.launch()
    return process
