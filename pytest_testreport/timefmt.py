"""Every way a time is written or read, side by side: each format is defined once, here.

- ``iso``: the local store's columns, as the datetime carries its zone (``Z`` for UTC).
- ``format_time``: the CLI's JSON (interface decision: UTC ISO 8601 with ``Z``).
- ``iso_ms``: UTC with milliseconds and ``Z``: BrowserStack's payloads and the debug log.
- ``parse_time``: reads any of them back (a naive value is taken as UTC).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

__all__ = ["format_time", "iso", "iso_ms", "parse_time"]


def iso(value: Optional[datetime]) -> Optional[str]:
    """ISO 8601 in the datetime's own zone, ``+00:00`` written ``Z`` (the store's columns)."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def format_time(value: Optional[datetime]) -> Optional[str]:
    """UTC ISO 8601 with ``Z``."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def iso_ms(value: datetime) -> str:
    """UTC ISO 8601 with milliseconds (cut, not rounded) and ``Z``."""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Optional[str]) -> Optional[datetime]:
    """Read an ISO 8601 timestamp as stored (``Z`` suffix); naive values are taken as UTC."""
    if not value:
        return None
    try:
        # Python 3.9/3.10 fromisoformat does not accept "Z".
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
