"""In the pytest process: every result handed to the delivery process, kept until resolved.

Batches are kept as the bytes that went down the pipe (frames.py: compact, and no extra work),
and dropped once every target's acknowledgement (acks.py) has passed them. If the delivery
process dies, ``outstanding`` reads back what is left and tells, per target, what it still lacks.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Union

from ..model import TestResult, TestStart
from .acks import Resolved
from .frames import pack, unpack


class Ledger:
    """Handed-over batches and the latest acknowledgement of each target."""

    def __init__(self, targets: list[str]) -> None:
        self._lock = threading.Lock()
        self._batches: deque[tuple[int, int, bytes]] = deque()  # first ordinal, results, items
        self._next = 0
        self._seq = 0
        self.acks = {name: Resolved() for name in targets}

    @property
    def handed(self) -> int:
        """Results handed over so far."""
        return self._next

    def add(self, items: list[Union[TestResult, TestStart]]) -> tuple[int, bytes]:
        """Keep a batch; returns the ordinal of its first result and its items as bytes."""
        data = pack(items)
        count = sum(1 for item in items if not isinstance(item, TestStart))
        with self._lock:
            first = self._next
            self._next += count
            if count:
                self._batches.append((first, count, data))
        return first, data

    def acknowledge(self, seq: int, acks: dict[str, Resolved]) -> None:
        """Apply an acknowledgement; drop the batches every target has resolved."""
        with self._lock:
            if seq <= self._seq:
                return  # sent before one already applied
            self._seq = seq
            self.acks.update((name, ack) for name, ack in acks.items() if name in self.acks)
            floor = min((ack.mark for ack in self.acks.values()), default=self._next)
            while self._batches and sum(self._batches[0][:2]) <= floor:
                self._batches.popleft()

    def outstanding(self) -> dict[str, list[TestResult]]:
        """Per target, the results handed over that it has not resolved, in order."""
        with self._lock:
            batches = list(self._batches)
            acks = dict(self.acks)
        missing: dict[str, list[TestResult]] = {name: [] for name in acks}
        for first, _count, data in batches:
            items: list[Any] = unpack(data)
            results = [item for item in items if not isinstance(item, TestStart)]
            for ordinal, result in enumerate(results, first):
                for name, ack in acks.items():
                    if not ack.covers(ordinal):
                        missing[name].append(result)
        return missing

    def clear(self) -> None:
        """The delivery process reported everything: nothing is kept any more."""
        with self._lock:
            self._batches.clear()
