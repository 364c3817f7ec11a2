"""What a target declares about itself, cheaply: its name, options, credentials, and where its
code lives.

A spec is read on every pytest start-up (the options are declared then), so it holds strings
("module:attribute") for the target, its reader and its CLI verbs; those modules are imported
only when a run, the CLI or ``--testreport-failed-from`` needs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import argparse

    from ..engine.target import Target
    from ..option import Option
    from ..reading import Reader


def load(ref: str) -> Any:
    """The object a ``"package.module:attribute"`` string names."""
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"expected 'module:attribute', got {ref!r}")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class TargetSpec:
    """One target, as ``targets`` finds it (a built-in, or an entry point of the group
    ``pytest_testreport.targets`` naming a spec object)."""

    name: str  # what users write in --testreport=NAME
    target: str  # "module:Class" of its engine.target.Target subclass (the write path)
    options: tuple[Option, ...] = ()  # its rows of the options table (testreport_<name>_...)
    credentials: tuple[str, ...] = ()  # variables that turn it on when all are set
    reader: Optional[str] = None  # "module:Class" of its reading.Reader, for the CLI
    cli: Optional[str] = None  # "module:function" adding its own CLI verbs to a subparsers

    def target_class(self) -> type[Target]:
        return load(self.target)  # type: ignore[no-any-return]

    def reader_class(self) -> Optional[type[Reader]]:
        return None if self.reader is None else load(self.reader)

    def can_rerun(self) -> bool:
        """Whether its reader answers ``--testreport-failed-from`` (overrides ``failed_from``)."""
        from ..reading import Reader

        found = self.reader_class()
        return found is not None and found.failed_from.__func__ is not Reader.failed_from.__func__  # type: ignore[attr-defined]

    def add_commands(self, verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        """Add its own CLI verbs (``pytest-testreport buddy ...``), if it has any."""
        if self.cli is not None:
            load(self.cli)(verbs)
