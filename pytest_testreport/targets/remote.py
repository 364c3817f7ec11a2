"""What every remote target shares: its HTTP client, its token and text clean-up.

Their options are declared in their specs (targets/<name>/__init__.py), read on every start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Optional, Union

from ..api import warn
from ..config import Settings, usage_error
from ..engine.debuglog import debug_log
from ..engine.limits import Deadline
from ..engine.secrets import Secret
from ..engine.target import Target
from ..text import clean_text  # noqa: F401 - re-exported: the targets import it from here

if TYPE_CHECKING:
    from ..engine.http import HttpClient


def read_secret(settings: Settings, option: str, file_option: Optional[str] = None) -> Secret:
    """The token from its option, or from the file another option names."""
    value = settings.values.get(option)  # generic over the targets' options: their names
    if not value and file_option and settings.values.get(file_option):
        path = Path(settings.values[file_option]).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise usage_error(f"testreport: cannot read the token file {path}: {exc}") from None
    return Secret(value or "")


def make_client(
    settings: Settings,
    target: str,
    base_url: str,
    headers: dict[str, Union[str, Secret]],
    *,
    auth_hint: str,
    default_rate: Optional[tuple[int, float]] = None,
    pool_size: int = 4,
) -> HttpClient:
    """The one HTTP client of a target, configured from the settings."""
    from ..engine.http import HttpClient, HttpOptions

    verify = _verify(settings, target)
    if verify is False:  # also a line of the terminal summary (tls_notices), which no filter hides
        warn(
            f"testreport: TLS verification is OFF for {target} (testreport_{target}_verify = false)"
        )
    options = HttpOptions(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        verify=verify,
        pool_size=pool_size,
        rate=settings.values.get(f"{target}_rate_limit") or default_rate,
        dry_run=settings.dry_run,
    )
    debug = settings.debug or settings.dry_run
    return HttpClient(
        target,
        base_url,
        headers,
        options,
        debug=debug_log(settings.debug_path) if debug else None,
        auth_hint=auth_hint,
    )


def tls_notices(settings: Settings, targets: list[Target]) -> list[str]:
    """Terminal summary lines for the targets that talk TLS without verifying it."""
    return [
        f"testreport {t.name}: TLS verification is OFF (testreport_{t.name}_verify = false)"
        for t in targets
        if _verify(settings, t.name) is False
    ]


def _verify(settings: Settings, target: str) -> Union[bool, str]:
    """``testreport_<target>_verify`` (every remote target declares it; true when not)."""
    return settings.values.get(f"{target}_verify", True)  # type: ignore[no-any-return]


class HttpTarget(Target):
    """A target that talks HTTP through ``self.http``: the deadline and aborts reach it."""

    http: HttpClient
    # Requests one result costs, for ``sendable``; None: one request per batch.
    calls_per_result: ClassVar[Optional[float]] = None

    def sendable(self, seconds: float) -> Optional[int]:
        bucket = self.http.bucket
        if bucket is None:
            return None
        per = self.calls_per_result or 1.0 / self.batch_size
        return int(bucket.available_within(seconds) / per)

    def bind(self, deadline: Deadline) -> None:
        super().bind(deadline)
        self.http.bind(deadline)

    def abort(self) -> None:
        self.http.close()

    def release(self) -> None:
        self.http.close()
