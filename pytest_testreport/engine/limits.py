"""Time limits shared by a target's requests: the end-of-run deadline and a token bucket."""

from __future__ import annotations

import threading
import time
from typing import Optional

from .errors import DeadlineError


class Deadline:
    """Unset while the run goes on; set once when the run ends, then every wait respects it."""

    def __init__(self) -> None:
        self._at: Optional[float] = None

    def set(self, seconds_from_now: float) -> None:
        self._at = time.monotonic() + seconds_from_now

    @property
    def is_set(self) -> bool:
        return self._at is not None

    def remaining(self) -> Optional[float]:
        """Seconds left, or None while no deadline is set."""
        if self._at is None:
            return None
        return max(0.0, self._at - time.monotonic())

    def cap(self, seconds: float) -> float:
        remaining = self.remaining()
        return seconds if remaining is None else min(seconds, remaining)

    def sleep(self, seconds: float, what: str = "waiting") -> None:
        """Sleep, unless that would pass the deadline."""
        remaining = self.remaining()
        if remaining is not None and seconds > remaining:
            raise DeadlineError(f"{what} ({seconds:.1f} s) would pass the end-of-run deadline")
        if seconds > 0:
            time.sleep(seconds)


def bucket_shape(requests: int, seconds: float) -> tuple[float, float]:
    """A ``TokenBucket``'s capacity (its burst) and refill rate per second for a budget.

    A bucket of capacity C refilled at rate r allows C + r * T requests in a window T, so the
    burst (a tenth of the budget) is taken out of the refill rate.
    """
    capacity = max(1.0, requests // 10)
    return capacity, max(requests - capacity, 1.0) / seconds


class TokenBucket:
    """At most ``requests`` in any window of ``seconds``, bursts included (``bucket_shape``)."""

    def __init__(self, requests: int, seconds: float, deadline: Optional[Deadline] = None) -> None:
        self.capacity, self.rate = bucket_shape(requests, seconds)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        self.deadline = deadline or Deadline()

    def available_within(self, seconds: float) -> int:
        """Requests the bucket can grant from now until ``seconds`` from now."""
        with self._lock:
            now = time.monotonic()
            tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        return max(0, int(tokens + self.rate * max(seconds, 0.0)))

    def acquire(self) -> None:
        """Take one token, waiting for it on the calling (sender) thread."""
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self.deadline.sleep(wait, "the rate limit")


def parse_rate(value: str) -> tuple[int, float]:
    """``REQUESTS/SECONDS`` -> (requests, seconds); raises ValueError with the expected form."""
    try:
        requests, seconds = value.split("/")
        parsed = int(requests), float(seconds)
    except ValueError:
        raise ValueError("expected REQUESTS/SECONDS, for example 1600/300") from None
    if parsed[0] <= 0 or parsed[1] <= 0:
        raise ValueError("expected positive REQUESTS/SECONDS, for example 1600/300")
    return parsed
