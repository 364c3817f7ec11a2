"""The local target: a SQLite store under .testreport/ (spec only; the code is imported on use).

Its modules: ``target`` (the write path), ``schema`` (the store's tables), ``reader`` (the CLI's
read side and ``--testreport-failed-from=local``), ``runs``, ``repair`` and ``cli`` (``store``).
"""

from __future__ import annotations

from ..spec import TargetSpec

SPEC = TargetSpec(
    name="local",
    target="pytest_testreport.targets.local.target:LocalTarget",
    reader="pytest_testreport.targets.local.reader:LocalReader",
    cli="pytest_testreport.targets.local.cli:add_commands",
)
