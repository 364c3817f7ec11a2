"""``--testreport-debug``: one line per request (masked), to a file under ``.testreport/``."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, TextIO

from ..timefmt import iso_ms
from .private import open_append
from .secrets import mask


class DebugLog:
    """Thread-safe append-only log; opened lazily so a run that sends nothing writes nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: Optional[TextIO] = None

    def write(self, target: str, line: str) -> None:
        stamp = iso_ms(datetime.now(timezone.utc))
        with self._lock:
            if self._file is None:
                self._file = open_append(self.path)  # 0600, in folders made 0700
            self._file.write(f"{stamp} {target} {mask(line)}\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


_LOGS: dict[Path, DebugLog] = {}


def debug_log(path: Path) -> DebugLog:
    """One log object per file, shared by every target of the run."""
    if path not in _LOGS:
        _LOGS[path] = DebugLog(path)
    return _LOGS[path]
