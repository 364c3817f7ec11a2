"""Tokens that never show: masked in repr, str, logs and exceptions."""

from __future__ import annotations

import re
from collections.abc import Iterable

_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)([^'\",}\n]+)")


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
    return _AUTH_HEADER.sub(r"\1***", text)
