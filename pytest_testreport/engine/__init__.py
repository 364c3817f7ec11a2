"""Delivery: background senders per target, retries, rate limits, deadline, spool and replay."""

from .engine import Engine, SenderState
from .errors import AmbiguousError, DeliveryError, RejectedError, RetryableError, UnreachableError
from .target import Target

__all__ = [
    "AmbiguousError",
    "DeliveryError",
    "Engine",
    "RejectedError",
    "RetryableError",
    "SenderState",
    "Target",
    "UnreachableError",
]
