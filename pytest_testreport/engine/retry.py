"""The retry policy of every HTTP request: urllib3's ``Retry`` with full jitter and a deadline.

Kept apart from http.py so that building a target does not import the HTTP stack: only the
first request does (in the delivery process, off the test run's path).
"""

from __future__ import annotations

import random
from typing import Any, Optional

from urllib3.util.retry import Retry

from .limits import Deadline

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Answers that say the request was not processed, so even a non-idempotent one may be repeated.
NOT_PROCESSED = frozenset({408, 425, 429, 502, 503})


class RetryPolicy(Retry):
    """urllib3's Retry with full-jitter backoff, ``RateLimit-Reset`` and a deadline."""

    def __init__(self, *args: Any, deadline: Optional[Deadline] = None, max_wait: float = 60.0,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.deadline = deadline or Deadline()
        self.max_wait = max_wait

    def new(self, **kwargs: Any) -> RetryPolicy:
        kwargs.setdefault("deadline", self.deadline)
        kwargs.setdefault("max_wait", self.max_wait)
        return super().new(**kwargs)

    def get_backoff_time(self) -> float:
        return random.uniform(0, super().get_backoff_time())

    def get_retry_after(self, response: Any) -> Optional[float]:
        seconds = super().get_retry_after(response)
        if seconds is None:
            reset = response.headers.get("RateLimit-Reset")
            try:
                seconds = float(reset) if reset is not None else None
            except ValueError:
                seconds = None
        return None if seconds is None else min(max(seconds, 0.0), self.max_wait)

    def sleep(self, response: Any = None) -> None:
        wait = self.get_retry_after(response) if response is not None else None
        if wait is None:
            wait = self.get_backoff_time()
        self.deadline.sleep(wait, "retry back-off")


def default_retry(deadline: Deadline, attempts: int = 6) -> RetryPolicy:
    return RetryPolicy(
        total=attempts - 1,
        allowed_methods=None,  # every method; idempotency is decided per request below
        status_forcelist=RETRY_STATUSES,
        backoff_factor=0.5,
        backoff_max=30,
        raise_on_status=False,
        deadline=deadline,
    )
