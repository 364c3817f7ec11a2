"""Delivery: one background sender per target, fed from the pytest thread through a queue."""

from .engine import Engine, SenderState
from .target import Target

__all__ = ["Engine", "SenderState", "Target"]
