"""Fault injection shared by every fake service (thread-safe; usable while a test runs)."""

from __future__ import annotations

import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Union

#: ``retry_after`` / ``reset_header`` value meaning "seconds until the window resets".
AUTO = "auto"
Seconds = Union[float, int, str, None]


@dataclass
class Decision:
    """What the fault layer decided for one request, before the service saw it."""

    # "reset", "outage", "unauthorized", "rate_limit", "fail", "ratio", "mix", or "lost"
    # (processed, then the connection is reset: the client never hears the answer)
    kind: Optional[str] = None
    status: Optional[int] = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # latency plus slow-answer delay, applied after processing
    slow: bool = False

    @property
    def answers_instead(self) -> bool:
        """True when the service must not process the request (nothing changes)."""
        return self.kind is not None and self.kind != "lost"


@dataclass
class _FailRule:
    remaining: int
    status: int
    body: Any
    headers: dict[str, str]
    path: Optional[re.Pattern[str]]


@dataclass
class _Mix:
    """Shares of a flaky network, drawn per request from one seeded generator."""

    errors: float
    rate_limited: float
    resets: float
    retry_after: str
    lost: Optional[re.Pattern[str]]
    rng: random.Random


@dataclass
class _RateLimit:
    max_requests: int
    window: float
    retry_after: Seconds
    reset_header: Seconds
    window_start: float = 0.0
    count: int = 0

    def tick(self, now: float) -> None:
        if self.count == 0 or now - self.window_start >= self.window:
            self.window_start = now
            self.count = 0

    def reset_in(self, now: float) -> float:
        return max(0.0, self.window_start + self.window - now)


def _fmt_seconds(value: Seconds, auto: float) -> str:
    """Header text: ``"auto"`` gives whole seconds left in the window (at least 1)."""
    if value == AUTO:
        return str(max(1, math.ceil(auto)))
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else repr(number)


class FaultsMixin:
    """Fault injection. Faults answered before processing never change the service's state.

    Precedence for one request: outage, hang, reset, lost answer, unauthorized, rate limit,
    ``fail_next``, ``fault_mix``, ``fail_ratio``; a slow answer is processed normally and then
    delayed; latency delays every answer. Only a lost answer (``lose_next``, the ``lost``
    resets of ``fault_mix``) and a slow one change the state of a request that failed.
    """

    def __init__(self) -> None:
        self._fault_lock = threading.Lock()
        self._fail_rules: list[_FailRule] = []
        self._ratio: Optional[tuple[float, int, random.Random]] = None
        self._mix: Optional[_Mix] = None
        self._lose: list[tuple[int, Optional[re.Pattern[str]]]] = []
        self._hangs = 0
        self._released = threading.Event()
        self._rate: Optional[_RateLimit] = None
        self._resets = 0
        self._slow: list[float] = []
        self._unauthorized = False
        self._latency = 0.0
        self._outage_mode: Optional[str] = None
        self._outage_timer: Optional[threading.Timer] = None

    # -- configuration -------------------------------------------------------------------------
    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        body: Any = None,
        headers: Optional[dict[str, str]] = None,
        path: Optional[str] = None,
    ) -> None:
        """The next ``n`` requests (path matching the regex ``path``, if given) get ``status``."""
        rule = _FailRule(n, status, body, dict(headers or {}), re.compile(path) if path else None)
        with self._fault_lock:
            self._fail_rules.append(rule)

    def fail_ratio(self, ratio: float, status: int = 500, seed: int = 0) -> None:
        """A deterministic (seeded) share ``ratio`` of requests get ``status``; 0 turns it off."""
        with self._fault_lock:
            self._ratio = (ratio, status, random.Random(seed)) if ratio > 0 else None

    def fault_mix(
        self,
        errors: float = 0.2,
        rate_limited: float = 0.05,
        resets: float = 0.02,
        *,
        retry_after: float = 1,
        lost: Optional[str] = None,
        seed: int = 0,
    ) -> None:
        """A flaky network: a seeded share of requests fail, each drawn independently.

        ``errors``: half 500, half 503; ``rate_limited``: 429 with ``Retry-After``;
        ``resets``: the connection is reset. Resets on paths matching the regex ``lost`` happen
        after the request was processed (the state changed, the answer is lost); elsewhere
        before. Every fault but a lost answer leaves the service's state alone.
        """
        pattern = re.compile(lost) if lost else None
        mix = _Mix(errors, rate_limited, resets, _fmt_seconds(retry_after, 0), pattern,
                   random.Random(seed))  # fmt: skip
        with self._fault_lock:
            self._mix = mix

    def rate_limit(
        self,
        max_requests: Optional[int],
        window_seconds: float = 1.0,
        retry_after: Seconds = None,
        reset_header: Seconds = None,
    ) -> None:
        """429 past ``max_requests`` per fixed window (the first request opens the window).

        ``retry_after`` / ``reset_header``: ``None`` sends no header, a number sends that value,
        ``"auto"`` sends the whole seconds left in the window (``Retry-After`` /
        ``RateLimit-Reset``). ``max_requests=None`` turns the limit off.
        """
        with self._fault_lock:
            if max_requests is None:
                self._rate = None
            else:
                self._rate = _RateLimit(max_requests, window_seconds, retry_after, reset_header)

    def reset_next(self, n: int = 1) -> None:
        """The next ``n`` requests are read, then their connection is reset (no answer)."""
        with self._fault_lock:
            self._resets += n

    def lose_next(self, n: int = 1, path: Optional[str] = None) -> None:
        """The next ``n`` requests (path matching the regex ``path``) are processed, then their
        connection is reset: the state changed and the client never hears the answer."""
        with self._fault_lock:
            self._lose.append((n, re.compile(path) if path else None))

    def hang_next(self, n: int = 1) -> None:
        """The next ``n`` requests are read and never answered nor processed, until
        :meth:`release` (or the fake stops): then their connection is dropped."""
        with self._fault_lock:
            self._hangs += n
            self._released.clear()

    def release(self) -> None:
        """Drop the connections :meth:`hang_next` holds."""
        self._released.set()

    def slow_next(self, n: int, delay: float) -> None:
        """The next ``n`` requests are processed (state changes!) and answered ``delay`` s later."""
        with self._fault_lock:
            self._slow.extend([delay] * n)

    def unauthorized(self) -> None:
        """Every request answers 401 (the service's realistic body) until :meth:`authorize`."""
        with self._fault_lock:
            self._unauthorized = True

    def authorize(self) -> None:
        with self._fault_lock:
            self._unauthorized = False

    def latency(self, seconds: float) -> None:
        """Add a fixed delay to every answer."""
        with self._fault_lock:
            self._latency = max(0.0, seconds)

    def outage(self, seconds: Optional[float] = None, mode: str = "refuse") -> None:
        """For ``seconds`` (or until :meth:`recover`), connections are refused or reset.

        ``refuse``: the listening socket is closed (open keep-alive connections are dropped too)
        and reopened on the same port at recovery. ``reset``: the server keeps listening but
        resets every connection after reading its request.
        """
        if mode not in ("refuse", "reset"):
            raise ValueError(f"unknown outage mode {mode!r}")
        self.recover()
        with self._fault_lock:
            self._outage_mode = mode
        if mode == "refuse":
            self._stop_listening()
        if seconds is not None:
            timer = threading.Timer(seconds, self.recover)
            timer.daemon = True
            with self._fault_lock:
                self._outage_timer = timer
            timer.start()

    def recover(self) -> None:
        """End an outage now (listening again on the same port)."""
        with self._fault_lock:
            mode, self._outage_mode = self._outage_mode, None
            timer, self._outage_timer = self._outage_timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        if mode == "refuse":
            self._start_listening()

    @property
    def in_outage(self) -> bool:
        """True during an outage, until the server listens again (refuse mode)."""
        return self._outage_mode is not None or not self._listening()

    def _listening(self) -> bool:  # pragma: no cover - implemented by FakeService
        return True

    def clear_faults(self) -> None:
        """Remove every fault (ends an outage, drops hung requests, re-authorizes, no latency,
        no rate limit)."""
        self.recover()
        with self._fault_lock:
            self._fail_rules.clear()
            self._ratio = None
            self._mix = None
            self._lose.clear()
            self._hangs = 0
            self._rate = None
            self._resets = 0
            self._slow.clear()
            self._unauthorized = False
            self._latency = 0.0
        self.release()

    # -- hooks the server implements -----------------------------------------------------------
    def _stop_listening(self) -> None:  # pragma: no cover - implemented by FakeService
        raise NotImplementedError

    def _start_listening(self) -> None:  # pragma: no cover - implemented by FakeService
        raise NotImplementedError

    def fault_reply_body(self, status: int) -> Any:
        """Body of an injected error answer; services override with their error shape."""
        return {"message": f"injected fault: HTTP {status}"}

    def unauthorized_body(self) -> Any:
        return {"message": "Unauthorized"}

    # -- the decision ----------------------------------------------------------------------------
    def rate_state(self) -> Optional[tuple[int, int, float]]:
        """``(limit, remaining, seconds to reset)`` of the injected rate limit, if any."""
        with self._fault_lock:
            rate = self._rate
            if rate is None:
                return None
            now = time.monotonic()
            if rate.count == 0 or now - rate.window_start >= rate.window:
                return rate.max_requests, rate.max_requests, rate.window
            return rate.max_requests, max(0, rate.max_requests - rate.count), rate.reset_in(now)

    def _decide(self, path: str) -> Decision:
        with self._fault_lock:
            decision = Decision(delay=self._latency)
            if self._outage_mode is not None:
                decision.kind = "outage"
                return decision
            if self._hangs > 0:
                self._hangs -= 1
                decision.kind = "hang"
                return decision
            if self._resets > 0:
                self._resets -= 1
                decision.kind = "reset"
                return decision
            for index, (left, pattern) in enumerate(self._lose):
                if pattern is None or pattern.search(path):
                    self._lose[index] = (left - 1, pattern)
                    self._lose = [rule for rule in self._lose if rule[0] > 0]
                    decision.kind = "lost"
                    return decision
            if self._unauthorized:
                decision.kind, decision.status = "unauthorized", 401
                decision.body = self.unauthorized_body()
                return decision
            if self._rate is not None and self._rate_exceeded(decision):
                return decision
            for rule in self._fail_rules:
                if rule.remaining > 0 and (rule.path is None or rule.path.search(path)):
                    rule.remaining -= 1
                    decision.kind, decision.status = "fail", rule.status
                    decision.body = rule.body
                    decision.headers = dict(rule.headers)
                    self._fail_rules = [r for r in self._fail_rules if r.remaining > 0]
                    return decision
            if self._mix is not None and self._mixed(decision, path):
                return decision
            if self._ratio is not None:
                ratio, status, rng = self._ratio
                if rng.random() < ratio:
                    decision.kind, decision.status = "ratio", status
                    return decision
            if self._slow:
                decision.slow = True
                decision.delay += self._slow.pop(0)
            return decision

    def _mixed(self, decision: Decision, path: str) -> bool:
        mix = self._mix
        assert mix is not None
        draw = mix.rng.random()
        if draw < mix.resets:
            lost = mix.lost is not None and mix.lost.search(path) is not None
            decision.kind = "lost" if lost else "reset"
        elif draw < mix.resets + mix.rate_limited:
            decision.kind, decision.status = "mix", 429
            decision.headers["Retry-After"] = mix.retry_after
        elif draw < mix.resets + mix.rate_limited + mix.errors:
            decision.kind, decision.status = "mix", 500 if mix.rng.random() < 0.5 else 503
        else:
            return False
        return True

    def _rate_exceeded(self, decision: Decision) -> bool:
        rate = self._rate
        assert rate is not None
        now = time.monotonic()
        rate.tick(now)
        rate.count += 1
        if rate.count <= rate.max_requests:
            return False
        left = rate.reset_in(now)
        decision.kind, decision.status = "rate_limit", 429
        if rate.retry_after is not None:
            decision.headers["Retry-After"] = _fmt_seconds(rate.retry_after, left)
        if rate.reset_header is not None:
            decision.headers["RateLimit-Reset"] = _fmt_seconds(rate.reset_header, left)
        return True
