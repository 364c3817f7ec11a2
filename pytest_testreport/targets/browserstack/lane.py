"""Which lane a session takes to BrowserStack: live test runs, or one JUnit XML upload.

BrowserStack publishes its budget (reference §5): 1,600 requests per 5 minutes per user and 160
per second per IP. The live lane costs two requests per test attempt (start and finish), so a
fast suite outruns it and the end of the run would wait for a backlog it cannot send. Whether
an upload can join a build started live is not documented, so the lane is chosen once per
session, at collection, and the whole session goes one way: one build either way.

The rule (``choose``) is pure: the session goes live when the client's token bucket can send
every live request by the end-of-run deadline, that is when

    2 × tests ≤ min(burst + refill × window, wire × window)
    window = expected duration + flush deadline

with ``refill`` the bucket's sustained rate and ``wire`` what the sender's connections carry at
the expected latency, at most the per-IP limit. Without an expected duration the suite is taken
to be fast (0 s): a suite the budget cannot carry goes by the bulk lane rather than wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ...engine.limits import bucket_shape

LIVE, JUNIT = "live", "junit"
CALLS_PER_TEST = 2  # tests/start + tests/finish; hooks and logs are extra, for failed tests mostly
PER_IP_RATE = 160.0  # requests per second per IP (reference §5)
EXPECTED_LATENCY = 0.25  # seconds per live request before any was sent (a cautious guess)


@dataclass(frozen=True)
class Budget:
    """What the live lane may spend: the client's bucket, its connections, the deadline."""

    requests: int  # per window, ``testreport_browserstack_rate_limit`` (default 1600/300)
    seconds: float
    deadline: float  # the end-of-run deadline (``testreport_flush_timeout``)
    concurrency: int = 4
    latency: float = EXPECTED_LATENCY

    @property
    def burst(self) -> float:
        """Requests the client's ``TokenBucket`` lets out at once."""
        return bucket_shape(self.requests, self.seconds)[0]

    @property
    def bucket_rate(self) -> float:
        """The bucket's sustained requests per second, after its burst."""
        return bucket_shape(self.requests, self.seconds)[1]

    @property
    def flow_rate(self) -> float:
        """Requests per second the sender can put on the wire: its connections at the
        expected latency, and at most the per-IP limit."""
        pool = self.concurrency / self.latency if self.latency > 0 else PER_IP_RATE
        return min(pool, PER_IP_RATE)

    def most_calls(self, expected: Optional[float] = None) -> float:
        """Live requests that can be sent by the deadline: the bucket's and the wire's bound."""
        window = max(expected or 0.0, 0.0) + self.deadline
        return min(self.burst + self.bucket_rate * window, self.flow_rate * window)

    def carries(self, tests: int, expected: Optional[float] = None) -> bool:
        """Whether every live request of ``tests`` can be sent by the end-of-run deadline."""
        return CALLS_PER_TEST * tests <= self.most_calls(expected)

    def most_tests(self, expected: Optional[float] = None) -> int:
        """The largest suite that stays live (documented in docs/browserstack.md)."""
        return int(self.most_calls(expected) // CALLS_PER_TEST)


def choose(mode: str, tests: Optional[int], budget: Budget,
           expected: Optional[float] = None) -> str:  # fmt: skip
    """The lane of a session: ``live`` or ``junit``.

    ``mode`` is the option (``auto``, ``live``, ``junit``); ``tests`` the collected count (None
    when collection never finished: live, today's behaviour); ``expected`` the suite's expected
    duration in seconds when known.
    """
    if mode in (LIVE, JUNIT):
        return mode
    if tests is None:
        return LIVE
    return LIVE if budget.carries(tests, expected) else JUNIT
