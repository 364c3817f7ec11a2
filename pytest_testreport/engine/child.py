"""The delivery process: ``python -m pytest_testreport.engine.child``, started by process.py.

Reads frames from stdin, runs the engine, writes one report frame to stdout and exits. Along
the way it tells the pytest process which sessions it opened or closed and, a few times a second
at most, which results every target has resolved (acks.py), so that the pytest process can let
go of them. When stdin ends without a ``finish`` (the pytest process was killed), it closes the
session as interrupted, with the counts the pytest process sent along with its last frame, and
delivers or spools what it received, within the flush deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from typing import IO, Any, Optional

from .acks import Tracker
from .process import REPORT_GRACE, apply_counts, read_frame, write_frame

ORPHANED = "interrupted: the pytest process ended before closing the session"
ACK_EVERY = 0.1  # seconds: acknowledgements are batched, never one per result


class Writer:
    """Frames to the pytest process from several threads; a closed pipe is not our problem."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            write_frame(self._out, message)


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    from ..model import TestStart
    from ..targets import install, make_targets
    from .frames import unpack
    from .inprocess import Engine
    from .scrub import content_secrets

    first = read_frame(inp)
    if first is None:
        return 0
    _kind, settings, session = first
    writer = Writer(out)
    install()  # content_secrets reads the targets' options (their credentials) through config
    targets = make_targets(settings)
    tracker = Tracker([target.name for target in targets], writer.send)
    engine = Engine(targets, settings.spool_path, content_secrets(settings), observer=tracker)
    engine.start(session)
    writer.send(("ready",))
    _acknowledge_every(ACK_EVERY, tracker)
    final: Optional[tuple[Any, float]] = None
    counted: dict[str, int] = {}  # the pytest process's session counts, as of its last frame
    while True:
        message = read_frame(inp)
        if message is None:
            break
        if message[0] == "items":
            items = unpack(message[2])
            results = [item for item in items if not isinstance(item, TestStart)]
            tracker.register(message[1], results)  # before any target can resolve them
            counted = message[3]
            engine.submit_items(items)
        elif message[0] == "plan":
            engine.plan(message[1])
        elif message[0] == "finish":
            final = (message[1], message[2])
            break
    if final is None:  # orphaned: close what we know of the session ourselves
        apply_counts(session, counted)
        session.finish(ORPHANED)
        final = (session, settings.flush_timeout)
    _exit_after(final[1] + 5 * REPORT_GRACE)
    states = engine.finish(final[0], final[1])
    writer.send(("done", states))
    return 0


def _acknowledge_every(seconds: float, tracker: Tracker) -> None:
    def loop() -> None:
        while True:
            time.sleep(seconds)
            tracker.flush()

    threading.Thread(target=loop, name="testreport-acks", daemon=True).start()


def warm_up(targets: list[str]) -> None:
    """Import what delivering to these targets needs, while pytest is still collecting."""
    from ..targets import specs
    from . import inprocess  # noqa: F401

    found = specs()
    for name in targets:
        if name in found:
            found[name].target_class()
    if any(name != "local" for name in targets):
        import requests  # noqa: F401

        from . import retry  # noqa: F401


def _exit_after(seconds: float) -> None:
    """A last resort: the process ends even if a target ignores the deadline."""
    timer = threading.Timer(seconds, os._exit, args=(3,))
    timer.daemon = True
    timer.start()


def main() -> int:
    # Ctrl-C and a cancelled job reach pytest, which then tells us to finish: we never stop
    # half-way on our own, or the session would stay open on the service.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.simplefilter("ignore")  # the pytest process already showed them
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    try:
        warm_up(sys.argv[1:])
        return serve(sys.stdin.buffer, out)
    except BaseException:
        with contextlib.suppress(OSError):
            write_frame(out, ("failed", "the delivery process failed: " + traceback.format_exc()))
        return 1


if __name__ == "__main__":
    code = main()
    # Everything is closed and reported by now: skip the interpreter's teardown, which pytest
    # would otherwise wait for (about 15 ms) to collect this process.
    sys.stderr.flush()
    os._exit(code)
