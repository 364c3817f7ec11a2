"""A result's failures as the targets show them: joined in one text, or one text per phase.

A ``TestResult`` keeps a ``Failure`` per failing phase and per failed subtest, in the order they
happened. Most targets show one failure (``joined``): the first phase's, with a later phase's
error appended to its traceback (and, after a call failure, to its message), then the subtests'
texts. BrowserStack shows one backtrace per failing phase (``per_phase``). Versions before the
list joined the texts when the result was made; ``from_joined`` splits such a failure again,
so that their spooled results replay as they would have been sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from .text import truncate_lines

if TYPE_CHECKING:  # model.py imports this module: failures are made as ``type(one)(...)``
    from .model import Failure

MAX_TRACEBACK_LINES = 1000  # lines of a traceback (each phase's, and the joined one)
SUBTEST = "subtest"  # the phase of a failed subtest's failure
_AFTER_CALL = " (teardown error: {})"  # how a call failure's message names a later error
_PHASE_MARK = re.compile(r"^(setup|call|teardown|crash) error:$")


def _split(failures: Sequence[Failure]) -> tuple[list[Failure], list[Failure]]:
    """(the failing phases, the failed subtests)."""
    phases = [f for f in failures if f.phase != SUBTEST]
    return phases, [f for f in failures if f.phase == SUBTEST]


def _mark(head: Failure, later: Failure) -> str:
    """The line that introduces a later phase's traceback in the joined text."""
    # After a call failure the later error has always been called a teardown error.
    return "teardown error:" if head.phase == "call" else f"{later.phase} error:"


def joined(failures: Sequence[Failure]) -> Optional[Failure]:
    """All the failures as one (a new object), or None when there are none."""
    if not failures:
        return None
    make = type(failures[0])
    phases, subtests = _split(failures)
    if phases:
        head = phases[0]
        message, traceback = head.message, list(head.traceback)
        for later in phases[1:]:
            if head.phase == "call":  # the test failed: its message names the later error too
                message += _AFTER_CALL.format(later.message)
            traceback = truncate_lines(
                [*traceback, "", _mark(head, later), *later.traceback], MAX_TRACEBACK_LINES
            )
        failure = make(message=message, phase=head.phase, traceback=traceback)
    else:
        failure = make(message=subtests[0].message, phase="call", traceback=[])
    if subtests:
        first = subtests[0]
        lines = [line for f in subtests for line in [f.message, *f.traceback]]
        failure.traceback = truncate_lines([*failure.traceback, *lines], MAX_TRACEBACK_LINES)
        if len(subtests) > 1 or failure.message != first.message:
            failure.message = f"{failure.message}; {first.message}"
    return failure


def per_phase(failures: Sequence[Failure]) -> list[tuple[str, list[str]]]:
    """``[(phase, traceback lines), ...]``, one per failing phase; the subtests' texts go with
    the last phase (the call's, where they ran). An empty traceback shows the joined message."""
    whole = joined(failures)
    if whole is None:
        return []
    phases, subtests = _split(failures)
    parts = [(f.phase, list(f.traceback)) for f in phases] or [("call", [])]
    parts[-1][1].extend(line for f in subtests for line in [f.message, *f.traceback])
    return [(phase, lines or [whole.message]) for phase, lines in parts]


def from_joined(failure: Failure) -> list[Failure]:
    """The per-phase failures of a failure an older version joined (for its spooled results).

    Its traceback is split at the ``<phase> error:`` lines ``joined`` writes; after a call
    failure, the later messages are read back from the end of the message (else each later
    phase's message is its last line). A failure whose parts would not join back to the same
    text stays one failure.
    """
    segments: list[tuple[str, list[str]]] = [(failure.phase, [])]
    for line in failure.traceback:
        mark = _PHASE_MARK.match(line)
        if mark:
            if segments[-1][1] and segments[-1][1][-1] == "":
                segments[-1][1].pop()  # the blank line ``joined`` puts before the mark
            segments.append((mark.group(1), []))
        else:
            segments[-1][1].append(line)
    if len(segments) == 1:
        return [failure]
    messages = [failure.message] + [_last_line(lines) for _, lines in segments[1:]]
    separator = _AFTER_CALL.format("")[:-1]
    if failure.phase == "call" and separator in failure.message:
        head = failure.message
        for index in range(len(segments) - 1, 0, -1):
            rest, sep, message = head.rpartition(separator)
            if not sep or not message.endswith(")"):
                return [failure]
            head, messages[index] = rest, message[:-1]
        messages[0] = head
    make = type(failure)
    split = [make(message=m, phase=p, traceback=t) for m, (p, t) in zip(messages, segments)]
    again = joined(split)
    # A traceback line that only looks like a mark would split wrongly: keep what is sure.
    if again is None or again.traceback != failure.traceback:
        return [failure]
    return split


def _last_line(lines: list[str]) -> str:
    """A phase's message when only its traceback is known: its last line that says something."""
    line = next((line for line in reversed(lines) if line.strip()), "")
    return line[4:].strip() if line.startswith("E   ") else line
