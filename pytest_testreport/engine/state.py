"""What a target's sender achieved, as the terminal summary, the job summary and the
delivery process's report read it; and the helpers that keep a target's problems on it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .errors import DeliveryError
from .secrets import mask

log = logging.getLogger("pytest_testreport")


@dataclass
class SenderState:
    """What one target's sender achieved; read by the terminal summary."""

    target: str
    delivered: int = 0
    spooled: int = 0
    lost: int = 0  # neither delivered nor spooled: the spool could not be written
    unknown: int = 0  # handed to a delivery process that died: delivered or not, nobody knows
    opened: bool = False
    closed: bool = False
    close_spooled: bool = False
    offline: Optional[str] = None  # why the target went spool-only
    errors: list[str] = field(default_factory=list)
    spool_path: Optional[Path] = None
    summary: str = ""  # the target's own line about the closed session
    link: Optional[str] = None  # where to see the session
    # result uuid -> where to see that failed test (Target.test_links: bounded, failures only)
    test_links: dict[str, str] = field(default_factory=dict)

    def note(self, message: str) -> None:
        """Keep one line per distinct problem, so a failing service is reported once."""
        message = mask(message)  # a service may echo a credential in its error body
        if message not in self.errors and len(self.errors) < 5:
            log.warning("testreport %s: %s", self.target, message)
            self.errors.append(message)

    @property
    def undelivered(self) -> int:
        return self.spooled + self.lost + self.unknown

    def spooled_text(self) -> str:
        """``3 of 10 results spooled (and the session close)``: the terminal's and the job
        summary's words for what waits in the spool."""
        total = self.delivered + self.undelivered
        close = " (and the session close)" if self.close_spooled else ""
        return f"{self.spooled} of {total} results spooled{close}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DeliveryError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def guarded(state: SenderState, what: str, call: Callable[[], object]) -> None:
    """Run one step of a target's end; a failure is noted for that target, never raised."""
    try:
        call()
    except Exception as exc:
        state.note(f"{what} failed: {_describe(exc)}")
