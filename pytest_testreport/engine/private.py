"""Files and folders the plugin creates are its owner's alone.

The spool holds whole payloads, the debug log every request and the store every test's
output: any of them may carry what a test printed (tokens included). Under the usual umask
022 they would be readable by every user of the machine; created here, they are 0600 and
the folders 0700. What already exists keeps its mode: the plugin did not create it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TextIO

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_dirs(path: Path) -> None:
    """``mkdir -p path``; each folder it creates is 0700 (``mkdir(parents=True)`` would
    make the parents 0755)."""
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            folder.mkdir(mode=DIR_MODE)


def create_file(path: Path) -> None:
    """Create ``path`` (0600) and its folders (0700) if it does not exist; never truncates."""
    make_dirs(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))


def open_append(path: Path) -> TextIO:
    """``path.open("a")``, creating the file 0600 and its folders 0700 when missing."""
    make_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    return os.fdopen(fd, "a", encoding="utf-8")
