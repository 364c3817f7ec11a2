"""Acknowledgements: which handed-over results each target has resolved, told cheaply.

The pytest process numbers the results it hands to the delivery process, in order (starts are
not numbered: they are best effort). A result is *resolved* for a target once it was delivered,
spooled or counted lost. Per target, an acknowledgement is a mark (every result below it is
resolved) plus the few ranges above it resolved out of order (a pool, a spooled batch), with the
counts of delivered, spooled and lost results among them. The pytest process keeps what is not
resolved everywhere, and if the delivery process dies, sends each target exactly what it lacks.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..model import TestResult

HOW = ("delivered", "spooled", "lost")


class Observer:
    """What the engine tells about each target's session and results (by default: nobody)."""

    def opened(self, target: str, state: dict[str, Any]) -> None:
        """The session is open; ``state`` is what ``Target.resume`` needs to reach it."""

    def resolved(self, target: str, results: list[TestResult], how: str) -> None:
        """``results`` were delivered, spooled or lost (``how``, one of ``HOW``)."""

    def closed(self, target: str, spooled: bool) -> None:
        """The session was closed (or its close spooled): nothing more goes to it."""


@dataclass
class Resolved:
    """One target's acknowledgement: results ``< mark`` and those in ``above`` are resolved."""

    mark: int = 0
    above: list[tuple[int, int]] = field(default_factory=list)  # [start, end) ranges
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HOW, 0))

    def covers(self, ordinal: int) -> bool:
        return ordinal < self.mark or any(start <= ordinal < end for start, end in self.above)


def ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted [start, end) ranges covering ``numbers``."""
    spans: list[tuple[int, int]] = []
    for number in sorted(numbers):
        if spans and spans[-1][1] == number:
            spans[-1] = (spans[-1][0], number + 1)
        else:
            spans.append((number, number + 1))
    return spans


class _Progress:
    """One target's resolved results: a moving mark and the set resolved above it."""

    def __init__(self) -> None:
        self.mark = 0
        self.above: set[int] = set()
        self.counts = dict.fromkeys(HOW, 0)

    def resolve(self, ordinal: int) -> bool:
        if ordinal < self.mark or ordinal in self.above:
            return False  # the same result twice (a duplicate uuid): counted once
        self.above.add(ordinal)
        while self.mark in self.above:
            self.above.discard(self.mark)
            self.mark += 1
        return True


class Tracker(Observer):
    """In the delivery process: follows every target's resolutions and reports them.

    ``send`` writes a message to the pytest process; acknowledgements go out from ``flush``
    (called periodically, never per result) and before each ``closed``.
    """

    def __init__(self, targets: list[str], send: Callable[[Any], None]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._progress = {name: _Progress() for name in targets}
        self._ordinals: dict[str, int] = {}  # uuid -> ordinal, while some target owes it
        self._order: deque[str] = deque()  # uuids from ordinal ``_base`` on
        self._base = 0
        self._seq = 0  # numbers acknowledgements: the pytest process ignores a stale one
        self._changed = False

    def register(self, first: int, results: list[TestResult]) -> None:
        """Results handed over, numbered from ``first``; call before the engine gets them."""
        with self._lock:
            for ordinal, result in enumerate(results, first):
                if result.uuid in self._ordinals:  # resolved along with its first copy
                    for progress in self._progress.values():
                        progress.resolve(ordinal)
                else:
                    self._ordinals[result.uuid] = ordinal
                self._order.append(result.uuid)
            self._changed = True

    def opened(self, target: str, state: dict[str, Any]) -> None:
        self._send(("opened", target, state))

    def resolved(self, target: str, results: list[TestResult], how: str) -> None:
        with self._lock:
            progress = self._progress.get(target)
            if progress is None:
                return
            for result in results:
                ordinal = self._ordinals.get(result.uuid)
                if ordinal is not None and progress.resolve(ordinal):
                    progress.counts[how] += 1
            self._changed = True
            self._trim()

    def closed(self, target: str, spooled: bool) -> None:
        # What was resolved goes first: the pytest process must never resend to a closed session.
        self.flush(force=True)
        self._send(("closed", target, spooled))

    def flush(self, force: bool = False) -> None:
        """Send the acknowledgement if anything changed since the last one."""
        message = self.snapshot(force)
        if message is not None:
            self._send(message)

    def snapshot(self, force: bool = False) -> Optional[tuple[str, int, dict[str, Resolved]]]:
        with self._lock:
            if not (self._changed or force):
                return None
            self._changed = False
            self._seq += 1
            acks = {
                name: Resolved(p.mark, ranges(p.above), dict(p.counts))
                for name, p in self._progress.items()
            }
            return ("ack", self._seq, acks)

    def _trim(self) -> None:
        """Forget results every target has passed: memory stays with the unresolved ones."""
        everything = self._base + len(self._order)
        floor = min((p.mark for p in self._progress.values()), default=everything)
        while self._base < floor and self._order:
            uuid = self._order.popleft()
            if self._ordinals.get(uuid) == self._base:
                del self._ordinals[uuid]
            self._base += 1
