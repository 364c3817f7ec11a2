"""Tokens that never show: masked in repr, str, logs, exceptions and every output.

Every credential of the run is registered here (its raw value and the forms it travels in:
base64, the basic-auth pair, the credential inside an ``Authorization`` header), and ``mask``
replaces every registered form wherever text leaves the plugin.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask ordinary words; no real credential is that short
_HEADER_VALUE = re.compile(r'(?i)^\s*(basic|bearer|token)\s+(?:token=)?"?([^"\s]+)"?\s*$')

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
        register(value)

    def __setstate__(self, state: Any) -> None:
        # Unpickled (in the delivery process): known there too.
        self._value = state[1]["_value"] if isinstance(state, tuple) else state["_value"]
        register(self._value)

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


_lock = threading.Lock()
_known: set[str] = set()
_ordered: tuple[str, ...] = ()  # longest first: a form containing another is masked whole


def forms(value: str) -> set[str]:
    """``value`` and the forms it is sent or echoed in: base64 (padded or not) and, for an
    ``Authorization`` header value, the credential in it (and, for ``Basic``, its pair)."""
    found = {value}
    header = _HEADER_VALUE.match(value)
    if header:
        credential = header.group(2)
        found.add(credential)
        if header.group(1).lower() == "basic":  # only there is the credential base64
            with contextlib.suppress(binascii.Error, ValueError):
                found.add(base64.b64decode(credential, validate=True).decode("utf-8"))
    for text in list(found):
        encoded = base64.b64encode(text.encode("utf-8", "replace")).decode("ascii")
        found.update((encoded, encoded.rstrip("=")))
    return {form for form in found if len(form) >= MIN_LENGTH}


def register(*values: str) -> None:
    """Make ``mask`` hide these values (and their forms) from now on, in this process."""
    global _ordered
    new = set().union(*(forms(v) for v in values if v and len(v) >= MIN_LENGTH))
    with _lock:
        if new <= _known:
            return
        _known.update(new)
        _ordered = tuple(sorted(_known, key=len, reverse=True))


def known() -> tuple[str, ...]:
    """Every registered form, longest first."""
    return _ordered


def mask(text: str, secrets: Iterable[Secret] = ()) -> str:
    """Hide every registered secret (and ``secrets``) and any Authorization header value."""
    extra = [s.reveal() for s in secrets if s.reveal() not in _known]
    if extra:
        register(*extra)
    for value in _ordered:
        if value in text:
            text = text.replace(value, MASK)
    text = _AUTH_HEADER.sub(r"\1***", text)
    for pattern in _TOKEN_LIKE:
        text = pattern.sub(r"\1***", text)
    return text
