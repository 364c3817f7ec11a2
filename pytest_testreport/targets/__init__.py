"""The targets: one module each, found by name. Only ``local`` needs no account.

Adding or changing a target? Read docs/writing-a-target.md first: targets only map the model
to their API; HTTP, retries, rate limits, deadlines and the spool belong to the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Option, Settings
    from ..engine.target import Target

# Every target name users may write; the registry says which ones this version can send to.
TARGET_NAMES = ("local", "buddy", "browserstack", "buildkite")
REGISTRY: dict[str, str] = {
    "local": "pytest_testreport.targets.local.target:LocalTarget",
    "buddy": "pytest_testreport.targets.buddy.target:BuddyTarget",
    "browserstack": "pytest_testreport.targets.browserstack.target:BrowserStackTarget",
    "buildkite": "pytest_testreport.targets.buildkite.target:BuildkiteTarget",
}


def available() -> tuple[str, ...]:
    return tuple(name for name in TARGET_NAMES if name in REGISTRY)


def rerunnable() -> tuple[str, ...]:
    """Targets that can name the tests that failed (``--testreport-failed-from``)."""
    found = []
    for name in available():
        if name == "local":
            found.append(name)
            continue
        try:
            reader = importlib.import_module(f"{__name__}.{name}.reader")
        except ImportError:
            continue
        if hasattr(reader, "failed_nodeids"):
            found.append(name)
    return tuple(found)


def target_class(name: str) -> type[Target]:
    module, _, attr = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def target_options() -> tuple[Option, ...]:
    """Every available target's options, from options.py: no target module is imported."""
    from .options import OPTIONS  # not at the top: options.py imports config, which imports us

    return tuple(option for name in available() for option in OPTIONS[name])


def credentials(name: str) -> tuple[str, ...]:
    """The variables that turn target ``name`` on when all are set (``testreport_auto``)."""
    from .options import CREDENTIALS

    return CREDENTIALS[name]


def make_targets(settings: Settings) -> list[Target]:
    """Build every enabled target, so that a misconfiguration fails at start-up."""
    targets = [target_class(name).from_settings(settings) for name in settings.targets]
    if settings.batch_age is not None:
        for target in targets:
            target.batch_age = settings.batch_age  # type: ignore[misc]
    return targets
