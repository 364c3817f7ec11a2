"""What can go wrong when delivering, as the engine needs to tell it apart."""

from __future__ import annotations

from typing import Optional


class DeliveryError(Exception):
    """Something was not delivered; the engine spools it."""


class RetryableError(DeliveryError):
    """A transient failure that outlasted the retry budget (5xx, 429, timeouts, resets)."""


class UnreachableError(RetryableError):
    """The service could not be reached at all (refused, DNS, connect timeout)."""


class AmbiguousError(DeliveryError):
    """A request that is not safe to repeat may or may not have been processed."""


class DeadlineError(RetryableError):
    """The end-of-run deadline came before the request could be (re)tried."""


class RejectedError(DeliveryError):
    """The service refused the request and retrying cannot fix it (400, 401, 403, 404, 413, 422)."""

    def __init__(self, status: int, reason: str, body: str, hint: Optional[str] = None,
                 *, stops_target: bool = False) -> None:  # fmt: skip
        self.status = status
        self.reason = reason
        self.body = body
        self.hint = hint
        self._stops_target = stops_target
        text = f"{status} {reason}"
        if body:
            text += f": {body[:500]}"
        if hint:
            text += f" — {hint}"
        super().__init__(text)

    @property
    def is_auth(self) -> bool:
        return self.status in (401, 403)

    @property
    def stops_target(self) -> bool:
        """Nothing more can be delivered to this target in this run (bad credentials, or a
        target that says its session is gone): the engine spools everything from now on."""
        return self._stops_target or self.is_auth


class UnusableError(DeliveryError):
    """The target cannot take anything more in this run (e.g. its store is damaged): the engine
    spools the rest at once instead of failing every batch. The message says what to do."""
