"""Delivery: background senders per target, retries, rate limits, deadline, spool and replay.

Importing a submodule (``engine.target``, ``engine.errors``) must stay cheap: the pytest process
builds its targets (to validate the configuration) but delivers from a child process, so it
should not load what only delivery needs. So the package exports its names lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Engine": "inprocess",
    "SenderState": "state",
    "Target": "target",
    "AmbiguousError": "errors",
    "DeliveryError": "errors",
    "RejectedError": "errors",
    "RetryableError": "errors",
    "UnreachableError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(name)
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
