"""The delivery process: ``python -m pytest_testreport.engine.child``, started by process.py.

Reads frames from stdin, runs the engine, writes one report frame to stdout and exits. When
stdin ends without a ``finish`` (the pytest process was killed), it closes the session as
interrupted and delivers or spools what it received, within the flush deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
import warnings
from typing import IO, Any, Optional

from .process import REPORT_GRACE, read_frame, write_frame

ORPHANED = "interrupted: the pytest process ended before closing the session"


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    from ..model import TestStart
    from ..targets import make_targets
    from .engine import Engine
    from .scrub import content_secrets

    first = read_frame(inp)
    if first is None:
        return 0
    _kind, settings, session = first
    engine = Engine(make_targets(settings), settings.spool_path, content_secrets(settings))
    engine.start(session)
    write_frame(out, ("ready",))
    final: Optional[tuple[Any, float]] = None
    while True:
        message = read_frame(inp)
        if message is None:
            break
        if message[0] == "items":
            for item in message[1]:
                if not isinstance(item, TestStart):
                    session.count(item)  # for the orphaned case below
            engine.submit_items(message[1])
        elif message[0] == "finish":
            final = (message[1], message[2])
            break
    if final is None:  # orphaned: close what we know of the session ourselves
        session.finish(ORPHANED)
        final = (session, settings.flush_timeout)
    _exit_after(final[1] + 5 * REPORT_GRACE)
    write_frame(out, ("done", engine.finish(final[0], final[1])))
    return 0


def warm_up(targets: list[str]) -> None:
    """Import what delivering to these targets needs, while pytest is still collecting."""
    from ..targets import REGISTRY, target_class
    from . import engine  # noqa: F401

    for name in targets:
        if name in REGISTRY:
            target_class(name)
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
