"""The ``browserstack`` target's settings: option parsers, the validated config, its client.

Parsers named by the spec (``__init__.py``) live here, so that a value given on start-up loads this
module and the mapping, not the target. ``BrowserStackConfig`` is what the target, the reader and
the CLI verbs are built from; ``client`` is the one HTTP client they all use.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from ...config import usage_error
from ...engine.secrets import Secret
from ..remote import make_client, read_secret
from . import BROWSERSTACK_API_URL, BROWSERSTACK_UPLOAD_URL, SPEC
from .lane import Budget
from .mapping import ENVIRONMENT_LIMITS

if TYPE_CHECKING:
    from ...config import Settings
    from ...engine.http import HttpClient

DEFAULT_RATE = (1600, 300)  # the published limit: 1600 requests per 5 minutes per user
AUTH_HINT = "check BROWSERSTACK_USERNAME and BROWSERSTACK_ACCESS_KEY"
CONCURRENCY = 4  # test runs sent at once; also the client's connection pool


def parse_build_tags(value: str) -> list[str]:
    """``testreport_browserstack_build_tags``: comma-separated."""
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def parse_environment(value: str) -> dict[str, str]:
    """``os=Windows,browser=chrome``: the option's form (a ``ValueError`` names the problem)."""
    env: dict[str, str] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, text = part.partition("=")
        key = key.strip()
        if not sep or key not in ENVIRONMENT_LIMITS:
            raise ValueError(
                f"expected FIELD=VALUE pairs with FIELD one of "
                f"{', '.join(ENVIRONMENT_LIMITS)}; got {part.strip()!r}"
            )
        env[key] = text.strip()
    return env


@dataclass
class BrowserStackConfig:
    """The target's settings, validated."""

    api_url: str
    username: str
    access_key: Secret
    project: str
    build_name: Optional[str] = None
    build_tags: list[str] = field(default_factory=list)
    build_id: Optional[str] = None
    environment: dict[str, str] = field(default_factory=dict)
    hooks: str = "slow-or-failed"
    hook_threshold: float = 1.0
    logs: str = "failed"
    dry_run: bool = False
    replay: bool = False  # built by the CLI (replay): a spooled open may have made a build
    mode: str = "auto"  # the lane: auto, live or junit (``lane``)
    upload_url: str = BROWSERSTACK_UPLOAD_URL
    budget: Budget = field(default_factory=lambda: Budget(*DEFAULT_RATE, deadline=30.0))

    @classmethod
    def from_settings(cls, settings: Settings) -> BrowserStackConfig:
        options = settings.options_of(SPEC)
        username = (options.browserstack_username or "").strip()
        access_key = read_secret(settings, "browserstack_access_key")
        for present, variable in ((username, "BROWSERSTACK_USERNAME"),
                                  (access_key, "BROWSERSTACK_ACCESS_KEY")):  # fmt: skip
            if not present:
                raise usage_error(
                    f"testreport: the browserstack target needs {variable} (environment, or "
                    f"TESTREPORT_{variable} / ini testreport_{variable.lower()})"
                )
        return cls(
            api_url=(options.browserstack_api_url or BROWSERSTACK_API_URL).rstrip("/"),
            username=username,
            access_key=access_key,
            project=options.browserstack_project or settings.rootdir.name or "pytest",
            build_name=options.browserstack_build_name or None,
            build_tags=list(options.browserstack_build_tags or []),
            build_id=options.browserstack_build_id or None,
            environment=dict(options.browserstack_environment or {}),
            hooks=options.browserstack_hooks or "slow-or-failed",
            hook_threshold=options.browserstack_hook_threshold,
            logs=options.browserstack_logs or "failed",
            dry_run=settings.dry_run,
            replay=not settings.targets,
            mode=_mode(options),
            upload_url=options.browserstack_upload_url or BROWSERSTACK_UPLOAD_URL,
            budget=_budget(options, settings.flush_timeout),
        )


def _budget(options: Any, flush_timeout: float) -> Budget:
    """The live lane's budget: the request budget, the end-of-run deadline, the pool."""
    requests, seconds = options.browserstack_rate_limit or DEFAULT_RATE
    return Budget(requests, seconds, deadline=flush_timeout, concurrency=CONCURRENCY)


def _mode(options: Any) -> str:
    """The lane option; a joined build (sharded CI) can only be reached live."""
    mode = options.browserstack_mode or "auto"
    if options.browserstack_build_id and mode == "junit":
        raise usage_error(
            "testreport: testreport_browserstack_mode = junit cannot join a started build "
            "(testreport_browserstack_build_id): an upload makes its own build; use live or auto"
        )
    return "live" if options.browserstack_build_id else mode


def client(settings: Settings, config: BrowserStackConfig) -> HttpClient:
    """The client of the API with the config's credentials, budget and pool."""
    token = f"{config.username}:{config.access_key.reveal()}".encode()
    headers = {"Authorization": Secret("Basic " + base64.b64encode(token).decode("ascii"))}
    return make_client(settings, "browserstack", config.api_url, headers,  # type: ignore[arg-type]
                       auth_hint=AUTH_HINT, default_rate=DEFAULT_RATE,
                       pool_size=CONCURRENCY)  # fmt: skip
