"""One setting and its three spellings, and the parsers most options share.

Kept apart from ``config`` so that what declares options (``history_options``, each target's
spec) depends on this small module only, and ``config`` depends on none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if not 0 <= seconds <= 24 * 3600:
        raise ValueError("expected a number of seconds between 0 and 86400")
    return seconds


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def parse_text(value: str) -> str:
    return value.strip()


@dataclass(frozen=True)
class Option:
    """One setting and its spellings."""

    name: str
    help: str
    parse: Callable[[str], Any] = parse_text
    default: Any = None
    metavar: str = "VALUE"
    flag_only: bool = False  # a command-line switch without a value (``--testreport-strict``)
    vendor_env: tuple[str, ...] = ()  # the vendor's own variable names, read after ours
    secret: bool = False  # never shown, and never accepted on the command line
    bare: Optional[str] = None  # the value of the flag given without one (``--testreport-html``)

    @property
    def flag(self) -> str:
        return "--testreport-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "testreport_" + self.name

    @property
    def env(self) -> str:
        return "TESTREPORT_" + self.name.upper()

    @property
    def dest(self) -> str:
        return "testreport_" + self.name
