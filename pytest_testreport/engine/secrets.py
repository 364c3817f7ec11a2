"""Tokens that never show: masked in repr, str, logs and exceptions."""

from __future__ import annotations

import re
from collections.abc import Iterable

_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)([^'\",}\n]+)")
# Values that look like credentials even when nobody told us they are one: a key named like a
# secret (token=..., "access_key": "...", password: ...), an auth scheme with its value, and
# Buddy's token formats.
_TOKEN_LIKE = (
    re.compile(
        r"(?i)((?:[a-z_]*(?:token|access_key|api_key|apikey|secret|password))['\"]?\s*[:=]\s*"
        r"['\"]?)([^\s'\",&}]{4,})"
    ),
    re.compile(r"(?i)(\b(?:bearer|basic|token)\s+(?:token=)?\"?)([A-Za-z0-9._~+/=-]{8,})"),
    re.compile(r"()\bbud_(?:ut|pat)_[A-Za-z0-9_-]{8,}"),
)


class Secret:
    """A credential. Only ``reveal()`` gives the value, for the one header that needs it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask(text: str, secrets: Iterable[Secret] = ()) -> str:
    """Hide every known secret and any Authorization header value in ``text``."""
    for secret in secrets:
        value = secret.reveal()
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    text = _AUTH_HEADER.sub(r"\1***", text)
    for pattern in _TOKEN_LIKE:
        text = pattern.sub(r"\1***", text)
    return text
