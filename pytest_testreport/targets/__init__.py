"""The targets: one package each, found through its spec (``targets/<name>/__init__.py``).

The built-in targets are listed here so that a source tree finds them without being installed;
other packages add targets through the entry-point group ``pytest_testreport.targets`` (see
docs/writing-a-target.md). Nothing here imports a target's code: specs name it as strings.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from .spec import TargetSpec

if TYPE_CHECKING:
    from ..config import Settings
    from ..engine.target import Target

ENTRY_POINT_GROUP = "pytest_testreport.targets"
# The built-in specs' modules, in the order users see the targets (local is the default).
BUILTIN = (
    "pytest_testreport.targets.local",
    "pytest_testreport.targets.buddy",
    "pytest_testreport.targets.browserstack",
    "pytest_testreport.targets.buildkite",
)


class BadTarget(Exception):
    """An entry point of the group does not name a usable spec."""


def _entry_points() -> list[Any]:
    """The group's entry points, read as pluggy reads pytest11: each distribution's
    entry_points.txt only (``entry_points(group=...)`` also parses every METADATA file, which
    costs tens of milliseconds on each pytest start-up). A distribution found twice on the
    path (an editable install and its source tree) gives the same entry point twice: kept once.
    """
    from importlib.metadata import distributions

    found: dict[tuple[str, str], Any] = {}
    for dist in distributions():
        for point in dist.entry_points:
            if point.group == ENTRY_POINT_GROUP:
                found.setdefault((point.name, point.value), point)
    return list(found.values())


@functools.cache
def specs() -> dict[str, TargetSpec]:
    """Every target, by name: the built-ins first, then other packages' in name order."""
    found: dict[str, TargetSpec] = {}
    for module in BUILTIN:
        spec = importlib.import_module(module).SPEC
        found[spec.name] = spec
    for point in sorted(_entry_points(), key=lambda p: p.name):
        if point.value.partition(":")[0] in BUILTIN:
            continue  # our own built-ins, registered for installed copies: found above
        if point.name in found:
            raise BadTarget(f"testreport: two packages declare the target {point.name!r}")
        found[point.name] = _load(point)
    return found


def _load(point: Any) -> TargetSpec:
    """The spec an entry point names; a clear error when it names something else."""
    try:
        spec = point.load()
    except Exception as exc:
        raise BadTarget(f"testreport: target entry point {point.name!r} = {point.value!r} "
                        f"cannot be loaded: {exc}") from exc  # fmt: skip
    if not isinstance(spec, TargetSpec) or spec.name != point.name:
        raise BadTarget(
            f"testreport: target entry point {point.name!r} = {point.value!r} must name a "
            f"TargetSpec whose name is {point.name!r}"
        )
    return spec


def install() -> dict[str, TargetSpec]:
    """Find the targets and hand their specs to ``config`` (which imports no target)."""
    from ..config import use_targets

    found = specs()
    use_targets(found.values())
    return found


def available() -> tuple[str, ...]:
    return tuple(specs())


def target_class(name: str) -> type[Target]:
    return specs()[name].target_class()


def make_targets(settings: Settings) -> list[Target]:
    """Build every enabled target, so that a misconfiguration fails at start-up."""
    targets = [target_class(name).from_settings(settings) for name in settings.targets]
    if settings.batch_age is not None:
        for target in targets:
            target.batch_age = settings.batch_age  # type: ignore[misc]
    return targets
