"""Helpers for the targets' option tables (declared in each ``targets/<name>/__init__.py``).

pytest declares the options on every start-up, and ``testreport_auto`` looks for credentials on
every run; a target module pulls in the model, the engine and its API mapping. So the specs
declare options with these helpers, which import nothing but ``option`` and the standard
library. A parser that holds a target's own rules stays in the target's modules, named with
``deferred``: it is imported when a value is set, not on start-up.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit

from ..option import Option, parse_text


def deferred(module: str, name: str, package: str = __package__) -> Callable[[str], Any]:
    """The parser ``name`` of ``module`` (relative to ``package``), imported on first use."""

    def parse(value: str) -> Any:
        return getattr(importlib.import_module(module, package), name)(value)

    return parse


def parse_verify(value: str) -> Union[bool, str]:
    """``testreport_<target>_verify``: true, false or the path of a CA bundle file."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    if not Path(value).expanduser().is_file():
        raise ValueError("expected true, false or the path of a CA bundle file")
    return str(Path(value).expanduser())


# The vendors' own domains: plain http:// to them would send a token in the clear.
VENDOR_DOMAINS = ("buddy.works", "browserstack.com", "buildkite.com")


def refuse_plain_http(url: str) -> None:
    """ValueError for plain http:// to a vendor's host; https, loopback and other hosts pass.

    Other hosts may use http:// (a local proxy, an on-premises install, a test fake).
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").rstrip(".")  # urlsplit gives it in lower case
    if parts.scheme == "http" and any(
        host == domain or host.endswith("." + domain) for domain in VENDOR_DOMAINS
    ):
        raise ValueError(f"plain http:// to {host} would send the token unencrypted: use https://")


def parse_url(value: str) -> str:
    """An http(s) URL without its trailing slash (plain http:// to a vendor refused)."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http(s):// URL")
    refuse_plain_http(value)
    return value.rstrip("/")


def http_options(target: str, default_rate: Optional[str] = None) -> tuple[Option, ...]:
    """The options every remote target has: its request budget and its TLS verification."""
    rate_help = f"client-side request budget REQUESTS/SECONDS (default {default_rate or 'none'})"
    parse_rate = deferred("..engine.limits", "parse_rate")
    return (
        Option(f"{target}_rate_limit", rate_help, parse_rate, None, "N/SECONDS"),
        Option(
            f"{target}_verify",
            "TLS verification: true (default), false (insecure), or a CA bundle file",
            parse_verify,
            True,
            "VERIFY",
        ),
    )


def token_option(name: str, help: str, vendor_env: tuple[str, ...]) -> Option:
    """A credential: read from the environment (or ini), never from the command line."""
    return Option(name, help, parse_text, None, "TOKEN", vendor_env=vendor_env, secret=True)
