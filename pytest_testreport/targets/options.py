"""Every target's options and credentials, readable without importing the targets.

pytest declares the options on every start-up, and ``testreport_auto`` looks for credentials on
every run; a target module pulls in the model, the engine and its API mapping. So the tables
live here, and this module imports nothing but ``config`` and the standard library. A parser
that holds a target's own rules stays in the target's module, named with ``deferred``: it is
imported when a value is set, not on start-up.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit

from ..config import Option, parse_bool, parse_choice, parse_seconds, parse_text

BUDDY_DATA_LIMIT = 64 * 1024  # bytes of one ``data`` fragment
BROWSERSTACK_API_URL = "https://api-automation.browserstack.com/ext/v1"
BROWSERSTACK_HOOK_MODES = ("none", "slow-or-failed", "all")
BROWSERSTACK_LOG_MODES = ("failed", "all")
BUILDKITE_API_URL = "https://analytics-api.buildkite.com/v1"
BUILDKITE_REST_URL = "https://api.buildkite.com/v2"


def deferred(module: str, name: str) -> Callable[[str], Any]:
    """The parser ``name`` of ``module`` (relative to this package), imported on first use."""

    def parse(value: str) -> Any:
        return getattr(importlib.import_module(module, __package__), name)(value)

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


def http_options(name: str, default_rate: Optional[str] = None) -> tuple[Option, ...]:
    """The options every remote target has: its request budget and its TLS verification."""
    rate_help = f"client-side request budget REQUESTS/SECONDS (default {default_rate or 'none'})"
    parse_rate = deferred("..engine.limits", "parse_rate")
    return (
        Option(f"{name}_rate_limit", rate_help, parse_rate, None, "N/SECONDS"),
        Option(
            f"{name}_verify",
            "TLS verification: true (default), false (insecure), or a CA bundle file",
            parse_verify,
            True,
            "VERIFY",
        ),
    )


def token_option(name: str, help: str, vendor_env: tuple[str, ...]) -> Option:
    """A credential: read from the environment (or ini), never from the command line."""
    return Option(name, help, parse_text, None, "TOKEN", vendor_env=vendor_env, secret=True)


_BUDDY: tuple[Option, ...] = (
    token_option(
        "buddy_ut_token", "Buddy suite token (its prefix picks the region)", ("BUDDY_UT_TOKEN",)
    ),
    Option("buddy_ut_token_file", "file holding the Buddy suite token", metavar="PATH"),
    token_option(
        "buddy_token",
        "Buddy personal access token (UNIT_TEST_INFO; UNIT_TEST_MANAGE for buddy open) for the CLI",
        ("BUDDY_TOKEN",),
    ),
    Option(
        "buddy_api_url",
        "Buddy API URL, also BUDDY_API_URL (default: the token's region; "
        "on-premises https://HOST/api)",
        deferred(".buddy.client", "parse_api_url"),
        None,
        "URL",
        vendor_env=("BUDDY_API_URL",),
    ),
    Option("buddy_workspace", "Buddy workspace domain (for the CLI)", metavar="DOMAIN"),
    Option("buddy_project", "Buddy project name (for the CLI)", metavar="NAME"),
    Option("buddy_suite", "Buddy suite id as in the API's paths, e.g. MNbyVedg", metavar="ID"),
    Option(
        "buddy_session_id",
        "join this Buddy session (also BUDDY_SESSION_ID) instead of creating one",
        metavar="ID",
        vendor_env=("BUDDY_SESSION_ID",),
    ),
    Option(
        "buddy_close",
        "close the joined session (BUDDY_SESSION_ID) at the end",
        parse_bool,
        False,
        "BOOL",
        flag_only=True,
    ),
    Option(
        "buddy_data_limit",
        f"bytes of a case's data fragment (default {BUDDY_DATA_LIMIT})",
        deferred(".buddy.target", "parse_data_limit"),
        BUDDY_DATA_LIMIT,
        "BYTES",
    ),
    *http_options("buddy"),
)

_BROWSERSTACK: tuple[Option, ...] = (
    Option("browserstack_username", "BrowserStack username (also BROWSERSTACK_USERNAME)",
           metavar="USER", vendor_env=("BROWSERSTACK_USERNAME",)),
    token_option("browserstack_access_key", "BrowserStack access key (also "
                 "BROWSERSTACK_ACCESS_KEY); environment or ini only", ("BROWSERSTACK_ACCESS_KEY",)),
    Option("browserstack_api_url", f"BrowserStack API base URL (default {BROWSERSTACK_API_URL})",
           parse_url, BROWSERSTACK_API_URL, "URL"),
    Option("browserstack_project", "project name (also BROWSERSTACK_PROJECT_NAME; default: the "
           "rootdir's name)", metavar="NAME", vendor_env=("BROWSERSTACK_PROJECT_NAME",)),
    Option("browserstack_build_name", "build name (also BROWSERSTACK_BUILD_NAME; default: the CI "
           "job or workflow name, else pytest)", metavar="NAME",
           vendor_env=("BROWSERSTACK_BUILD_NAME",)),
    Option("browserstack_build_tags", "build tags, comma-separated",
           deferred(".browserstack.config", "parse_build_tags"), [], "TAGS"),
    Option("browserstack_build_id", "join this started build (sharded CI; see pytest-testreport "
           "browserstack start); the run does not finish it", metavar="BUILD_ID"),
    Option("browserstack_environment", "test run environment, e.g. browser=chrome,os=Windows "
           "(fields device, os, os_version, browser, browser_version)",
           deferred(".browserstack.config", "parse_environment"), {}, "FIELD=VALUE,..."),
    Option("browserstack_hooks", "fixture setup/teardown as hook runs: none, slow-or-failed "
           "(default) or all", parse_choice(*BROWSERSTACK_HOOK_MODES), "slow-or-failed", "MODE"),
    Option("browserstack_hook_threshold", "seconds from which a setup/teardown is slow (1)",
           parse_seconds, 1.0, "SECONDS"),
    Option("browserstack_logs", "send captured logs of: failed (default) or all tests",
           parse_choice(*BROWSERSTACK_LOG_MODES), "failed", "MODE"),
    *http_options("browserstack", "1600/300"),
)  # fmt: skip

_BUILDKITE: tuple[Option, ...] = (
    token_option("buildkite_token", "Test Engine suite API token (or agent OIDC token)",
                 ("BUILDKITE_ANALYTICS_TOKEN",)),
    Option("buildkite_token_file", "file holding the suite API token", metavar="PATH"),
    Option("buildkite_api_url", f"upload API base URL (default {BUILDKITE_API_URL})",
           parse_url, BUILDKITE_API_URL, "URL",
           vendor_env=("BUILDKITE_ANALYTICS_API_URL",)),
    Option("buildkite_tags", "upload tags for every execution (at most 10): KEY=VALUE,... "
           "or a JSON object", deferred(".buildkite.mapping", "parse_upload_tags"), {},
           "KEY=VALUE,..."),
    Option("buildkite_batch_size", "executions per upload (default 500, at most 5000)",
           deferred(".buildkite.target", "parse_batch_size"), None, "N"),
    token_option("buildkite_api_token", "REST API token with read_suites, for reading back",
                 ("BUILDKITE_API_TOKEN",)),
    Option("buildkite_org", "organization slug, for reading back", parse_text, None, "SLUG"),
    Option("buildkite_suite", "test suite slug, for reading back", parse_text, None, "SLUG"),
    Option("buildkite_rest_url", f"REST API base URL (default {BUILDKITE_REST_URL})",
           parse_url, BUILDKITE_REST_URL, "URL"),
    *http_options("buildkite", None),
)  # fmt: skip

# Each target's rows of the one options table (see config.py), by target name.
OPTIONS: dict[str, tuple[Option, ...]] = {
    "local": (),
    "buddy": _BUDDY,
    "browserstack": _BROWSERSTACK,
    "buildkite": _BUILDKITE,
}

# Variables whose presence turns a target on by itself (``testreport_auto``), by target name.
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "local": (),
    "buddy": ("BUDDY_UT_TOKEN",),
    # As the vendors' collectors do (issue 2): both variables turn the target on in CI. They are
    # also set for BrowserStack Automate; ini testreport_auto = false opts out.
    "browserstack": ("BROWSERSTACK_USERNAME", "BROWSERSTACK_ACCESS_KEY"),
    "buildkite": ("BUILDKITE_ANALYTICS_TOKEN",),
}
