"""One pass over everything the engine hands to targets: valid text, and no credentials in it.

Test content (output, logs, failure texts, steps, metadata, names) may hold a lone surrogate,
which no target can encode, or a credential the run knows (a test that prints its token). The
engine cleans each result, start and session once, before it fans out to the targets, so no
target (local store included) ever sees either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .secrets import MASK, MIN_LENGTH, forms, register

if TYPE_CHECKING:
    from ..config import Settings

T = TypeVar("T")
REPLACEMENT = "\ufffd"
# Code points UTF-8 cannot encode: the surrogates (a lone one comes from undecodable bytes).
_UNENCODABLE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` with every code point UTF-8 cannot encode replaced by U+FFFD."""
    if text.isascii():
        return text
    return _UNENCODABLE.sub(REPLACEMENT, text)


def settings_secrets(settings: Settings) -> tuple[str, ...]:
    """Every credential the settings hold, in every form it travels in (registered for ``mask``).

    Tokens come from their options or token files; BrowserStack's key also as the basic-auth
    pair ``user:key`` that its header encodes.
    """
    from ..config import all_options

    values = settings.values
    raw = [values.get(o.name) for o in all_options() if o.secret]
    for option in all_options():
        if option.name.endswith("_token_file") and values.get(option.name):
            # An unreadable file is reported by the target that reads it.
            with contextlib.suppress(OSError, UnicodeError):
                raw.append(Path(values[option.name]).expanduser().read_text("utf-8").strip())
    user, key = values.get("browserstack_username"), values.get("browserstack_access_key")
    if user and key:
        raw.append(f"{user}:{key}")
    found = {form for value in raw if value and len(value) >= MIN_LENGTH for form in forms(value)}
    register(*found)
    return tuple(sorted(found, key=len, reverse=True))


def content_secrets(settings: Settings) -> tuple[str, ...]:
    """The secrets to scrub from test content: none when ``testreport_mask_secrets`` is off."""
    found = settings_secrets(settings)
    return found if settings.mask_secrets else ()


# Types that hold no text, skipped without a look (enums are added when first seen).
_PLAIN: set[type] = {int, float, bool, type(None), datetime}


class Scrubber:
    """Cleans model objects in place: valid text everywhere, ``***`` for every secret.

    It runs on the test's thread under ``testreport_delivery = thread``, so the common case
    (nothing to change) stays a few microseconds per result: one type dispatch per value and,
    per string, an ASCII check and one ``in`` per secret.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = set(secrets)
        # A form that contains another (a header, padded base64) is masked with that one.
        self.secrets = tuple(sorted((s for s in unique if not any(o in s for o in unique - {s})),
                                    key=len, reverse=True))  # fmt: skip

    def text(self, text: str) -> str:
        if not text.isascii():
            text = _UNENCODABLE.sub(REPLACEMENT, text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def clean(self, item: T) -> T:
        """Clean a result, start or session (and what it holds) in place; returns it."""
        fields = vars(item)
        for name, value in fields.items():
            kind = type(value)
            if kind is str:
                if value:
                    cleaned = self.text(value)
                    if cleaned != value:
                        fields[name] = cleaned  # an existing key: safe while iterating
            elif kind not in _PLAIN and value:
                cleaned = self._value(value, kind)
                if cleaned is not value:
                    fields[name] = cleaned
        return item

    def _frozen(self, value: Any) -> Any:
        changed = {}
        for name, field in vars(value).items():
            cleaned = self._value(field, type(field))
            if cleaned is not field:
                changed[name] = cleaned
        return dataclasses.replace(value, **changed) if changed else value

    def _value(self, value: Any, kind: type) -> Any:
        if kind is str:
            cleaned = self.text(value)
            return value if cleaned == value else cleaned
        if kind in _PLAIN:
            return value
        if kind is list or kind is tuple:
            items = [self._value(v, type(v)) for v in value]
            if all(a is b for a, b in zip(items, value)):
                return value
            return items if kind is list else tuple(items)
        if kind is dict:
            pairs = [(self._value(k, type(k)), self._value(v, type(v))) for k, v in value.items()]
            if all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items())):
                return value
            return dict(pairs)
        if hasattr(kind, "__dataclass_fields__"):
            if kind.__dataclass_params__.frozen:  # a test's identity, shared: a cleaned copy
                return self._frozen(value)
            return self.clean(value)
        if isinstance(value, str) and not isinstance(value, Enum):  # a str subclass
            return self._value(str(value), str)
        _PLAIN.add(kind)  # an enum or number type: never text, never looked at again
        return value
