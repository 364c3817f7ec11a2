"""``Settings``: every option's value, typed, validated and frozen (a pydantic model).

``config`` reads each option from its sources and parses it with the option's own parser (the
parsers give the error texts users see, naming the spelling that held the bad value); this
module holds the result. It imports pydantic, so ``config`` imports it only when a run needs
settings (``config.settings_if_needed``): a pytest run with reporting off never loads it.

The core and history options are fields declared here, checked against their ``Option``
declarations when this module loads. A target's options, declared by its spec, live in
``target_values`` and are read through ``Settings.options_of(name)``: a small pydantic model
per target, made from the spec's declarations (``pydantic.create_model``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Optional, Union, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model, field_validator

from . import paths

if TYPE_CHECKING:
    from .ci import CIInfo
    from .option import Option
    from .targets.spec import TargetSpec

_OVERRIDES = ("branch", "revision", "run_url", "run_id")


class Settings(BaseModel):
    """Everything the plugin needs to know, resolved once (pickled to the delivery child)."""

    model_config = ConfigDict(frozen=True)

    targets: tuple[str, ...] = ()
    rootdir: Path
    env: dict[str, str] = Field(default_factory=dict, repr=False)
    # The targets' options by name (``buddy_ut_token``); typed through ``options_of``.
    target_values: dict[str, Any] = Field(default_factory=dict, repr=False)

    # -- core options (config.CORE_OPTIONS) ---------------------------------------------------
    auto: bool = True
    local_path: Path = paths.STORE  # the option resolved against the rootdir (see below)
    capture: Literal["failed", "all", "none"] = "failed"
    failed_from: Optional[str] = None
    flush_timeout: float = 30.0
    delivery: Literal["process", "thread"] = "process"
    batch_age: Optional[float] = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    spool_dir: Optional[str] = None
    strict: bool = False
    debug: bool = False
    dry_run: bool = False
    summary: bool = True
    html: Optional[str] = None  # "" = the default path; None = off
    mask_secrets: bool = True
    branch: Optional[str] = None
    revision: Optional[str] = None
    run_url: Optional[str] = None
    run_id: Optional[str] = None
    # -- history options (history_options.HISTORY_OPTIONS) -----------------------------------
    shard: Optional[tuple[int, int]] = None
    durations: Optional[str] = None
    durations_last: int = 10
    quarantine: Optional[str] = None
    quarantine_sessions: int = 10
    quarantine_days: int = 30

    _ci: Optional[CIInfo] = PrivateAttr(default=None)

    @field_validator("local_path", mode="before")
    @classmethod
    def _store_under_rootdir(cls, value: Any, info: Any) -> Path:
        """``testreport_local_path`` as given (or unset) -> the store's path, from the rootdir."""
        return resolve_path(info.data["rootdir"], value, paths.STORE)

    @classmethod
    def from_values(cls, targets: tuple[str, ...], rootdir: Path, values: Mapping[str, Any],
                    env: Mapping[str, str]) -> Settings:  # fmt: skip
        """Settings from every option's parsed value, keyed by option name."""
        core = {name: value for name, value in values.items() if name in _CORE_NAMES}
        rest = {name: value for name, value in values.items() if name not in _CORE_NAMES}
        return cls(targets=targets, rootdir=rootdir, env=dict(env), target_values=rest, **core)

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    @property
    def spool_path(self) -> Path:
        return self.path(self.spool_dir, paths.SPOOL)

    @property
    def debug_path(self) -> Path:
        return self.rootdir / paths.DEBUG_LOG

    @property
    def overrides(self) -> dict[str, Optional[str]]:
        """The CI facts configured by hand (``testreport_branch`` ...), unset ones as None."""
        return {name: getattr(self, name) or None for name in _OVERRIDES}

    @property
    def values(self) -> Mapping[str, Any]:
        """Every option's value by name, read-only (for targets written before ``options_of``)."""
        core = {name: getattr(self, name) for name in _CORE_NAMES}
        return MappingProxyType({**core, **self.target_values})

    def options_of(self, spec: TargetSpec) -> TargetOptions:
        """The options a target's spec declares, as that target's typed, validated model."""
        model = target_model(spec)
        names = model.model_fields
        return model(**{name: self.target_values[name] for name in names
                        if name in self.target_values})  # fmt: skip

    def ci(self) -> CIInfo:
        """The run's CI and VCS facts, detected once: selection and the session share them."""
        if self._ci is None:
            from .ci import detect_ci

            self._ci = detect_ci(self.env, self.rootdir, overrides=self.overrides)
        return self._ci

    def path(self, value: Optional[str], default: Path) -> Path:
        """A configured path; relative ones are relative to the rootdir."""
        return resolve_path(self.rootdir, value, default)


def resolve_path(rootdir: Path, value: Union[str, Path, None], default: Path) -> Path:
    """``value`` (``~`` expanded) or ``default``; a relative one is taken from ``rootdir``."""
    path = Path(os.path.expanduser(value)) if value else default
    return path if path.is_absolute() else rootdir / path


class TargetOptions(BaseModel):
    """The base of each target's options model; fields are named as the options are."""

    model_config = ConfigDict(frozen=True)

    if TYPE_CHECKING:  # the fields are made at run time from the spec: typed as Any here

        def __getattr__(self, name: str) -> Any: ...


def option_type(option: Option) -> Any:
    """The type of an option's value: its parser's return annotation (Any when it has none),
    optional when the option has no default."""
    try:
        found = get_type_hints(option.parse).get("return", Any)
    except (NameError, TypeError):  # an annotation that cannot be resolved here
        found = Any
    return Optional[found] if option.default is None else found


def target_model(spec: TargetSpec) -> type[TargetOptions]:
    """``BuddyOptions`` and so on: one field per option the target's spec declares."""
    found = _MODELS.get(spec.name)  # by name: a spec holds lists (defaults), so is unhashable
    if found is None:
        found = _MODELS[spec.name] = _make_model(spec)
    return found


_MODELS: dict[str, type[TargetOptions]] = {}


def _make_model(spec: TargetSpec) -> type[TargetOptions]:
    fields: dict[str, Any] = {  # a secret stays out of the model's repr
        option.name: (option_type(option), Field(option.default, repr=not option.secret))
        for option in spec.options
    }
    name = "".join(part.title() for part in spec.name.split("_")) + "Options"
    return create_model(name, __base__=TargetOptions, **fields)  # type: ignore[no-any-return]


_NOT_OPTIONS = {"targets", "rootdir", "env", "target_values"}
_CORE_NAMES = tuple(name for name in Settings.model_fields if name not in _NOT_OPTIONS)


def check_fields(declared: tuple[Option, ...]) -> None:
    """The fields above are exactly the core and history options (``declared``), with their
    defaults: a new option needs its field. ``config`` checks once, before its first Settings."""
    options = {option.name: option for option in declared}
    if sorted(options) != sorted(_CORE_NAMES):
        missing = sorted(set(options) - set(_CORE_NAMES))
        extra = sorted(set(_CORE_NAMES) - set(options))
        raise RuntimeError(
            f"testreport: Settings fields and options differ: no field for {missing}, "
            f"no option for {extra}"
        )
    for name, option in options.items():
        default = Settings.model_fields[name].default
        if name != "local_path" and default != option.default:  # local_path: resolved
            raise RuntimeError(
                f"testreport: Settings.{name} defaults to {default!r}, its option to "
                f"{option.default!r}"
            )
