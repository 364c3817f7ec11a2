"""Validation helpers for the fakes: typed field access that raises :class:`Reject`."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any, Optional

from .base import Reject

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
)


def is_iso8601(value: Any) -> bool:
    """A date-time like ``2025-11-11T10:30:10Z`` / ``...10.123+00:00`` (valid calendar values)."""
    if not isinstance(value, str):
        return False
    m = _ISO.fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def bad_text(value: str) -> Optional[str]:
    """Why a string is unacceptable as text: a control character or a lone surrogate."""
    for i, ch in enumerate(value):
        if ch in "\t\n\r":
            continue
        if unicodedata.category(ch) == "Cc":
            return f"contains the control character U+{ord(ch):04X} at offset {i}"
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return f"is not valid UTF-8 (lone surrogate U+{ord(ch):04X} at offset {i})"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Fields:
    """One JSON object of a request; every accessor validates and names the field on failure."""

    def __init__(self, value: Any, where: str = "", status: int = 400) -> None:
        self.status = status
        self.where = where
        if not isinstance(value, dict):
            raise Reject(status, f"{where or 'body'} must be a JSON object")
        self.data: dict[str, Any] = value

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> Reject:
        return Reject(self.status, f"{self.name(key)} {problem}")

    def get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            raise self.fail(key, "is required")
        return value

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        max_len: Optional[int] = None,
        max_bytes: Optional[int] = None,
        nonblank: bool = False,
    ) -> Optional[str]:
        value = self.get(key, required)
        if value is None:
            return None
        check_string(value, self.name(key), self.status, max_len, max_bytes, nonblank or required)
        return value

    def strings(
        self,
        key: str,
        *,
        required: bool = False,
        min_items: int = 0,
        max_items: Optional[int] = None,
        max_len: Optional[int] = None,
    ) -> Optional[list[str]]:
        items = self.array(key, required=required, min_items=min_items, max_items=max_items)
        if items is None:
            return None
        for i, item in enumerate(items):
            check_string(item, f"{self.name(key)}[{i}]", self.status, max_len)
        return items

    def array(
        self,
        key: str,
        *,
        required: bool = False,
        min_items: int = 0,
        max_items: Optional[int] = None,
    ) -> Optional[list[Any]]:
        value = self.get(key, required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.fail(key, "must be an array")
        if len(value) < min_items:
            raise self.fail(key, f"must have at least {min_items} item(s), got {len(value)}")
        if max_items is not None and len(value) > max_items:
            raise self.fail(key, f"has too many items (maximum is {max_items}, got {len(value)})")
        return value

    def obj(self, key: str, *, required: bool = False) -> Optional[Fields]:
        value = self.get(key, required)
        if value is None:
            return None
        return Fields(value, self.name(key), self.status)

    def number(
        self, key: str, *, required: bool = False, minimum: Optional[float] = None
    ) -> Optional[float]:
        value = self.get(key, required)
        if value is None:
            return None
        if not _is_number(value):
            raise self.fail(key, f"must be a number, got {type(value).__name__}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}")
        return value

    def integer(self, key: str, *, required: bool = False, positive: bool = False) -> Optional[int]:
        value = self.get(key, required)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"must be an integer, got {value!r}")
        if positive and value <= 0:
            raise self.fail(key, f"must be a positive integer, got {value}")
        return value

    def enum(self, key: str, values: tuple[str, ...], *, required: bool = False) -> Optional[str]:
        value = self.get(key, required)
        if value is None:
            return None
        if value not in values:
            raise self.fail(key, f"must be one of {', '.join(values)}; got {value!r}")
        return value

    def timestamp(self, key: str, *, required: bool = False) -> Optional[str]:
        value = self.get(key, required)
        if value is None:
            return None
        if not is_iso8601(value):
            raise self.fail(key, f"must be an ISO 8601 date-time, got {value!r}")
        return value


def check_string(
    value: Any,
    where: str,
    status: int = 400,
    max_len: Optional[int] = None,
    max_bytes: Optional[int] = None,
    nonblank: bool = False,
) -> str:
    """Raise :class:`Reject` unless ``value`` is a string within the limits."""
    if not isinstance(value, str):
        raise Reject(status, f"{where} must be a string, got {type(value).__name__}")
    if nonblank and not value.strip():
        raise Reject(status, f"{where} must not be blank")
    if max_len is not None and len(value) > max_len:
        raise Reject(
            status, f"{where} is too long (maximum is {max_len} characters, got {len(value)})"
        )
    if max_bytes is not None:
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise Reject(status, f"{where} is too long (maximum is {max_bytes} bytes, got {size})")
    return value
