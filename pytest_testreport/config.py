"""One settings object from command line > environment > ini > defaults, validated at start-up.

Every option ``X`` has three spellings: ``--testreport-X``, ini ``testreport_X`` and env
``TESTREPORT_X``; a target may also accept its vendor's own variable (``BUDDY_UT_TOKEN``).
A bad value is a ``pytest.UsageError`` naming the spelling that held it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .history_options import HISTORY_OPTIONS
from .option import (  # noqa: F401 - re-exported: config has always been where options live
    Option,
    parse_bool,
    parse_choice,
    parse_seconds,
    parse_text,
)

if TYPE_CHECKING:
    import pytest

    from .settings import Settings
    from .targets.spec import TargetSpec

OFF_VALUES = ("none", "off", "0", "false", "no")


def __getattr__(name: str) -> Any:
    """``config.Settings``, where it has always been imported from; loaded on first use,
    because it imports pydantic (settings.py)."""
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CAPTURE_MODES = ("failed", "all", "none")


def parse_html(value: str) -> Optional[str]:
    """``testreport_html``: true (the default path), false (off), or the file to write."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return ""
    if lowered in ("0", "false", "no", "off"):
        return None
    return value.strip()


CORE_OPTIONS: tuple[Option, ...] = (
    Option("auto", "turn remote targets on when their credentials are set", parse_bool, True,
           "BOOL"),
    Option("local_path", "the local store (default .testreport/results.sqlite under the rootdir)",
           metavar="PATH"),
    Option("capture", "keep captured output of: failed (default), all or none tests",
           parse_choice(*CAPTURE_MODES), "failed", "MODE"),
    Option("failed_from", "run only the tests that failed in the latest session of TARGET",
           metavar="TARGET"),
    Option("flush_timeout", "seconds the end of the run may wait for delivery", parse_seconds,
           30.0, "SECONDS"),
    Option("delivery", "where delivery runs: process (default: a child process, off the "
           "interpreter lock of the tests) or thread (inside the pytest process)",
           parse_choice("process", "thread"), "process", "MODE"),
    Option("batch_age", "seconds a result may wait to be batched (default: the target's)",
           parse_seconds, None, "SECONDS"),
    Option("connect_timeout", "HTTP connect timeout in seconds", parse_seconds, 5.0, "SECONDS"),
    Option("read_timeout", "HTTP read timeout in seconds", parse_seconds, 30.0, "SECONDS"),
    Option("spool_dir", "where undelivered items are kept (default .testreport/spool)",
           metavar="DIR"),
    Option("strict", "exit non-zero when anything could not be delivered", parse_bool, False,
           "BOOL", flag_only=True),
    Option("debug", "log every request (masked) to .testreport/debug.log", parse_bool, False,
           "BOOL", flag_only=True),
    Option("dry_run", "build every payload and log it to .testreport/debug.log, send nothing",
           parse_bool, False, "BOOL", flag_only=True),
    Option("summary", "write a job summary in GitHub Actions and a build annotation in "
           "Buildkite", parse_bool, True, "BOOL"),
    Option("html", "after the run, write the HTML report of the local store to PATH (default "
           ".testreport/report.html); needs the local target", parse_html, None, "PATH",
           bare="true"),
    Option("mask_secrets", "replace every configured credential with *** in test content "
           "(output, logs, failures, steps, metadata) before it is recorded or sent",
           parse_bool, True, "BOOL"),
    Option("branch", "branch name to record instead of the detected one", metavar="BRANCH"),
    Option("revision", "commit to record instead of the detected one", metavar="SHA"),
    Option("run_url", "CI run URL to record instead of the detected one", metavar="URL"),
    Option("run_id", "CI run id to record instead of the detected one", metavar="ID"),
)  # fmt: skip


# The targets' specs, handed over by whoever starts us (plugin.py, the CLI, the delivery
# child) through ``use_targets``: config imports no target, so a target can import config.
_TARGETS: Optional[tuple[TargetSpec, ...]] = None


def use_targets(specs: Iterable[TargetSpec]) -> None:
    """Take the targets' specs (names, options, credentials), in the order users see them."""
    global _TARGETS
    _TARGETS = tuple(specs)


def target_specs() -> tuple[TargetSpec, ...]:
    """The specs handed over by ``use_targets``; a clear error when nobody did."""
    if _TARGETS is None:
        raise RuntimeError(
            "testreport: no targets registered; call pytest_testreport.targets.install() first"
        )
    return _TARGETS


def target_names() -> tuple[str, ...]:
    return tuple(spec.name for spec in target_specs())


def all_options() -> tuple[Option, ...]:
    targets = tuple(option for spec in target_specs() for option in spec.options)
    return CORE_OPTIONS + HISTORY_OPTIONS + targets


def _targets_help() -> str:
    """``local (default), buddy, ...``: the bare ``--testreport`` means local."""
    names = target_names()
    return ", ".join(f"{name} (default)" if name == "local" else name for name in names)


def usage_error(message: str) -> Exception:
    """pytest's UsageError; pytest is imported here because the delivery process never needs it."""
    import pytest

    return pytest.UsageError(message)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("testreport", "report results live (pytest-testreport)")
    group.addoption(
        "--testreport",
        dest="testreport",
        nargs="?",
        const="local",
        default=None,
        metavar="TARGETS",
        help=f"report to these targets, comma-separated: {_targets_help()}; "
        "env TESTREPORT, ini testreport",
    )
    group.addoption(
        "--no-testreport",
        dest="no_testreport",
        action="store_true",
        default=False,
        help="report nothing, whatever the environment or ini file says",
    )
    parser.addini("testreport", "targets to report to, comma-separated", default="")
    for option in all_options():
        spelled = f"env {option.env}, ini {option.ini}"
        if option.flag_only:
            group.addoption(option.flag, dest=option.dest, action="store_const", const="true",
                            default=None, help=f"{option.help}; {spelled}")  # fmt: skip
        elif not option.secret:
            bare = {"nargs": "?", "const": option.bare} if option.bare is not None else {}
            group.addoption(option.flag, dest=option.dest, default=None, metavar=option.metavar,
                            help=f"{option.help}; {spelled}", **bare)  # fmt: skip
        parser.addini(option.ini, option.help, default="")


def read_ini(rootdir: Path) -> dict[str, str]:
    """The ``testreport*`` keys of the project's pytest configuration file, for the CLI.

    Looks where pytest looks, in its order: pytest.ini, pyproject.toml, tox.ini, setup.cfg.
    """
    import configparser

    for name, section in (("pytest.ini", "pytest"), ("pyproject.toml", None),
                          ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):  # fmt: skip
        path = rootdir / name
        if not path.is_file():
            continue
        if section is None:
            try:
                import tomllib
            except ImportError:  # Python < 3.11: pytest itself depends on tomli there
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            options = data.get("tool", {}).get("pytest", {}).get("ini_options")
            if options is not None:
                return {k: str(v) for k, v in options.items() if k.startswith("testreport")}
            continue
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        if parser.has_section(section):
            return {k: v for k, v in parser.items(section) if k.startswith("testreport")}
        if name == "pytest.ini":
            return {}  # pytest.ini wins even without a [pytest] section
    return {}


class Sources:
    """Looks a setting up in each source in precedence order.

    With no pytest config (the CLI), the ini values come from ``read_ini`` instead.
    """

    def __init__(self, config: Optional[pytest.Config], env: Mapping[str, str],
                 ini: Optional[Mapping[str, str]] = None) -> None:  # fmt: skip
        self.config = config
        self.env = env
        self.ini = ini or {}

    def raw(self, option: Option) -> tuple[Optional[str], str]:
        if self.config is not None and not option.secret:
            value = self.config.getoption(option.dest, default=None)
            if value is not None:
                return str(value), option.flag
        for name in (option.env, *option.vendor_env):
            if self.env.get(name):
                return self.env[name], name
        if self.config is not None:
            value = self.config.getini(option.ini)
        else:
            value = self.ini.get(option.ini)
        if value:
            return str(value), f"ini {option.ini}"
        return None, ""

    def get(self, option: Option) -> Any:
        value, where = self.raw(option)
        if value is None:
            return option.default
        try:
            return option.parse(value)
        except ValueError as exc:
            shown = "***" if option.secret else repr(value)
            raise usage_error(f"testreport: invalid value {shown} for {where}: {exc}") from None


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


def looks_like_targets(value: str) -> bool:
    """Whether a command-line word is a target list (rather than, say, a test path)."""
    if value.startswith("-"):
        return False
    names = [part.strip().lower() for part in value.split(",")]
    known = target_names()
    return all(n in known or n in OFF_VALUES for n in names if n) and any(names)


def parse_targets(value: str, where: str) -> tuple[str, ...]:
    if value.strip().lower() in OFF_VALUES:
        return ()
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    choices = ", ".join(target_names())
    if not names:
        raise usage_error(f"testreport: {where} names no target; choose from {choices}")
    for name in names:
        if name not in target_names():
            raise usage_error(
                f"testreport: unknown target {name!r} in {where}; choose from {choices}"
            )
    return tuple(dict.fromkeys(names))


def _auto_targets(env: Mapping[str, str]) -> tuple[str, ...]:
    found = []
    for spec in target_specs():
        if spec.credentials and all(env.get(v) for v in spec.credentials):
            found.append(spec.name)
    return tuple(found)


def settings_from_env(env: Mapping[str, str], rootdir: Path) -> Settings:
    """Settings for the CLI (replay, per-target helpers): environment > ini file > defaults."""
    sources = Sources(None, env, read_ini(rootdir))
    values = {option.name: sources.get(option) for option in all_options()}
    return _settings((), rootdir, values, env)


def _settings(targets: tuple[str, ...], rootdir: Path, values: Mapping[str, Any],
              env: Mapping[str, str]) -> Settings:  # fmt: skip
    from .settings import Settings, check_fields  # pydantic: only for runs that use settings

    if not _CHECKED:
        check_fields(CORE_OPTIONS + HISTORY_OPTIONS)
        _CHECKED.append(True)
    return Settings.from_values(targets, rootdir, values, env)


_CHECKED: list[bool] = []  # whether Settings' fields were checked against the options


def load_settings(config: pytest.Config, env: Optional[Mapping[str, str]] = None) -> Settings:
    """Resolve and validate every setting; raises ``pytest.UsageError`` on misconfiguration."""
    found = _resolve(config, env)
    return _settings(*found)


def settings_if_needed(config: pytest.Config, env: Optional[Mapping[str, str]] = None
                       ) -> Optional[Settings]:  # fmt: skip
    """As ``load_settings``, but None when no target is on and every option is at its default:
    such a run has nothing for us to do, and then does not load pydantic (settings.py)."""
    targets, rootdir, values, env = _resolve(config, env)
    if not targets and all(values[o.name] == o.default for o in all_options()):
        return None
    return _settings(targets, rootdir, values, env)


def _resolve(config: pytest.Config, env: Optional[Mapping[str, str]]
             ) -> tuple[tuple[str, ...], Path, dict[str, Any], dict[str, str]]:  # fmt: skip
    """Every option parsed (a bad value is a UsageError naming its spelling) and the targets."""
    env = dict(os.environ if env is None else env)
    sources = Sources(config, env)
    values = {option.name: sources.get(option) for option in all_options()}
    if config.getoption("no_testreport", default=False):
        targets: tuple[str, ...] = ()
    else:
        named, where = _named_targets(config, env)
        if named is not None:
            targets = parse_targets(named, where)
        else:
            targets = _auto_targets(env) if values["auto"] else ()
    failed_from = values["failed_from"] or None
    if failed_from is not None:
        target = failed_from.split(":", 1)[0].strip().lower()
        able = [spec.name for spec in target_specs() if spec.can_rerun()]
        if target not in able:
            raise usage_error(
                f"testreport: --testreport-failed-from={failed_from}: target must be one of "
                f"{', '.join(able)}"
            )
    return targets, Path(config.rootpath), values, env
