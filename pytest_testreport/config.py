"""One settings object from command line > environment > ini > defaults, validated at start-up.

Every option ``X`` has three spellings: ``--testreport-X``, ini ``testreport_X`` and env
``TESTREPORT_X``. A bad value is a ``pytest.UsageError`` naming the spelling that held it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

TARGET_NAMES = ("local", "buddy", "browserstack", "buildkite")
OFF_VALUES = ("none", "off", "0", "false", "no")
CAPTURE_MODES = ("failed", "all", "none")


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _parse_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if not 0 <= seconds <= 24 * 3600:
        raise ValueError("expected a number of seconds between 0 and 86400")
    return seconds


def _parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def _parse_text(value: str) -> str:
    return value.strip()


@dataclass(frozen=True)
class Option:
    """One setting and its three spellings."""

    name: str
    help: str
    parse: Callable[[str], Any] = _parse_text
    default: Any = None
    metavar: str = "VALUE"

    @property
    def flag(self) -> str:
        return "--testreport-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "testreport_" + self.name

    @property
    def env(self) -> str:
        return "TESTREPORT_" + self.name.upper()

    @property
    def dest(self) -> str:
        return "testreport_" + self.name


OPTIONS: tuple[Option, ...] = (
    Option("auto", "turn remote targets on when their credentials are set", _parse_bool, True,
           "BOOL"),
    Option("local_path", "the local store (default .testreport/results.sqlite under the rootdir)",
           metavar="PATH"),
    Option("capture", "keep captured output of: failed (default), all or none tests",
           _parse_choice(*CAPTURE_MODES), "failed", "MODE"),
    Option("flush_timeout", "seconds the end of the run may wait for delivery", _parse_seconds,
           30.0, "SECONDS"),
    Option("failed_from", "run only the tests that failed in the latest session of TARGET",
           metavar="TARGET"),
    Option("branch", "branch name to record instead of the detected one", metavar="BRANCH"),
    Option("revision", "commit to record instead of the detected one", metavar="SHA"),
    Option("run_url", "CI run URL to record instead of the detected one", metavar="URL"),
    Option("run_id", "CI run id to record instead of the detected one", metavar="ID"),
)
OPTION_BY_NAME = {option.name: option for option in OPTIONS}

# Remote targets and the credential variables that turn them on by themselves.
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "buddy": ("BUDDY_UT_TOKEN",),
    "browserstack": ("BROWSERSTACK_USERNAME", "BROWSERSTACK_ACCESS_KEY"),
    "buildkite": ("BUILDKITE_ANALYTICS_TOKEN",),
}
# Targets this version can send to; the others are named in the interface but not built yet.
AVAILABLE_TARGETS = ("local",)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("testreport", "report results live (pytest-testreport)")
    group.addoption(
        "--testreport",
        dest="testreport",
        nargs="?",
        const="local",
        default=None,
        metavar="TARGETS",
        help="report to these targets, comma-separated: local (default), buddy, browserstack, "
        "buildkite; env TESTREPORT, ini testreport",
    )
    group.addoption(
        "--no-testreport",
        dest="no_testreport",
        action="store_true",
        default=False,
        help="report nothing, whatever the environment or ini file says",
    )
    parser.addini("testreport", "targets to report to, comma-separated", default="")
    for option in OPTIONS:
        group.addoption(
            option.flag, dest=option.dest, default=None, metavar=option.metavar,
            help=f"{option.help}; env {option.env}, ini {option.ini}",
        )  # fmt: skip
        parser.addini(option.ini, option.help, default="")


@dataclass(frozen=True)
class Settings:
    """Everything the plugin needs to know, resolved once."""

    targets: tuple[str, ...]
    rootdir: Path
    local_path: Path
    capture: str = "failed"
    flush_timeout: float = 30.0
    auto: bool = True
    failed_from: Optional[str] = None
    overrides: dict[str, Optional[str]] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.targets)


class _Sources:
    """Looks a setting up in each source in precedence order."""

    def __init__(self, config: pytest.Config, env: Mapping[str, str]) -> None:
        self.config = config
        self.env = env

    def raw(self, option: Option) -> tuple[Optional[str], str]:
        value = self.config.getoption(option.dest, default=None)
        if value is not None:
            return str(value), option.flag
        value = self.env.get(option.env)
        if value:
            return value, option.env
        value = self.config.getini(option.ini)
        if value:
            return str(value), f"ini {option.ini}"
        return None, ""

    def get(self, name: str) -> Any:
        option = OPTION_BY_NAME[name]
        value, where = self.raw(option)
        if value is None:
            return option.default
        try:
            return option.parse(value)
        except ValueError as exc:
            raise pytest.UsageError(f"testreport: invalid value {value!r} for {where}: {exc}") from None


def _named_targets(config: pytest.Config, env: Mapping[str, str]) -> tuple[Optional[str], str]:
    value = config.getoption("testreport", default=None)
    if value is not None:
        return value, "--testreport"
    if env.get("TESTREPORT"):
        return env["TESTREPORT"], "TESTREPORT"
    value = config.getini("testreport")
    if value:
        return str(value), "ini testreport"
    return None, ""


def parse_targets(value: str, where: str) -> tuple[str, ...]:
    if value.strip().lower() in OFF_VALUES:
        return ()
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    if not names:
        raise pytest.UsageError(f"testreport: {where} names no target; use local, buddy, "
                                "browserstack or buildkite")  # fmt: skip
    for name in names:
        if name not in TARGET_NAMES:
            raise pytest.UsageError(
                f"testreport: unknown target {name!r} in {where}; "
                f"choose from {', '.join(TARGET_NAMES)}"
            )
        if name not in AVAILABLE_TARGETS:
            raise pytest.UsageError(
                f"testreport: target {name!r} (from {where}) is not available in this version "
                f"of pytest-testreport; available: {', '.join(AVAILABLE_TARGETS)}"
            )
    return tuple(dict.fromkeys(names))


def _auto_targets(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(
        name
        for name, variables in CREDENTIALS.items()
        if name in AVAILABLE_TARGETS and all(env.get(v) for v in variables)
    )


def load_settings(config: pytest.Config, env: Optional[Mapping[str, str]] = None) -> Settings:
    """Resolve and validate every setting; raises ``pytest.UsageError`` on misconfiguration."""
    env = dict(os.environ if env is None else env)
    sources = _Sources(config, env)
    auto = sources.get("auto")
    if config.getoption("no_testreport", default=False):
        targets: tuple[str, ...] = ()
    else:
        named, where = _named_targets(config, env)
        if named is not None:
            targets = parse_targets(named, where)
        else:
            targets = _auto_targets(env) if auto else ()
    rootdir = Path(config.rootpath)
    local_path = sources.get("local_path")
    failed_from = sources.get("failed_from") or None
    if failed_from is not None:
        target = failed_from.split(":", 1)[0].strip().lower()
        if target not in TARGET_NAMES or target not in AVAILABLE_TARGETS:
            raise pytest.UsageError(
                f"testreport: --testreport-failed-from={failed_from}: target must be one of "
                f"{', '.join(AVAILABLE_TARGETS)}"
            )
    return Settings(
        targets=targets,
        rootdir=rootdir,
        local_path=resolve_local_path(local_path, rootdir),
        capture=sources.get("capture"),
        flush_timeout=sources.get("flush_timeout"),
        auto=auto,
        failed_from=failed_from,
        overrides={name: sources.get(name) or None for name in ("branch", "revision", "run_url",
                                                                 "run_id")},  # fmt: skip
        env=env,
    )


def resolve_local_path(value: Optional[str], rootdir: Path) -> Path:
    """Where the local store lives; relative paths are relative to the rootdir."""
    from .targets.local import DEFAULT_PATH

    path = Path(os.path.expanduser(value)) if value else DEFAULT_PATH
    return path if path.is_absolute() else rootdir / path
