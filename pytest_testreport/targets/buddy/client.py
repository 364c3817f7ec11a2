"""Reaching Buddy's API: where it is, and a client for each of its two tokens.

The base URL comes from the option, else the URL a non-production token embeds, else the
token's region. The suite token (``BUDDY_UT_TOKEN``) drives the reporter endpoints the target
uses; a personal access token (``BUDDY_TOKEN``) reads sessions and manages them from the CLI.
Both clients come from ``remote.make_client``: retries, limits and secrets are the engine's.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from ... import __version__
from ...config import usage_error
from ...engine.secrets import Secret
from ..options import refuse_plain_http
from ..remote import make_client, read_secret
from . import SPEC

if TYPE_CHECKING:
    from ...config import Settings
    from ...engine.http import HttpClient

US_API = "https://api.buddy.works/"
REGIONS = (
    ("bud_ut_eu_", "https://api.eu.buddy.works/"),
    ("bud_ut_asia_", "https://api.asia.buddy.works/"),
    ("bud_ut_us_", US_API),
)


def parse_api_url(value: str) -> str:
    """``testreport_buddy_api_url``: an http(s) URL, kept with one trailing slash."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "expected an http(s) URL, e.g. https://api.buddy.works or https://buddy.example.com/api"
        )
    refuse_plain_http(value)
    return value.rstrip("/") + "/"


def api_url(explicit: Optional[str], token: str) -> str:
    """The API base URL: the option, else the URL a 5-part token embeds, else its region."""
    if explicit:
        return parse_api_url(explicit)
    parts = token.split("_")
    if len(parts) == 5:  # non-production tokens carry their API URL, base64url-encoded
        try:
            decoded = base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4)).decode()
            return parse_api_url(decoded)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
    return next((url for prefix, url in REGIONS if token.startswith(prefix)), US_API)


def bearer_client(settings: Settings, base: str, token: str, hint: str) -> HttpClient:
    """A client for Buddy's API: a bearer token (the suite's or a personal one), our agent."""
    headers: dict[str, Any] = {
        "Authorization": Secret(f"Bearer {token}"),
        "User-Agent": f"pytest-testreport/{__version__}",
    }
    return make_client(settings, "buddy", base, headers, auth_hint=hint, pool_size=2)


def _token_source(settings: Settings) -> str:
    """Where the suite token came from, for the hint when it is refused (never its value)."""
    if settings.options_of(SPEC).buddy_ut_token:
        for name in ("TESTREPORT_BUDDY_UT_TOKEN", "BUDDY_UT_TOKEN"):
            if settings.env.get(name):
                return name
        return "ini testreport_buddy_ut_token"
    return f"the token file {settings.options_of(SPEC).buddy_ut_token_file}"


def suite_client(settings: Settings) -> HttpClient:
    """A client with the suite token (the reporter endpoints), or a usage error naming it."""
    token = read_secret(settings, "buddy_ut_token", "buddy_ut_token_file")
    if not token:
        raise usage_error(
            "testreport: the buddy target needs the suite token: set BUDDY_UT_TOKEN (the token "
            "on the suite's setup screen in Buddy), or testreport_buddy_ut_token_file"
        )
    base = api_url(settings.options_of(SPEC).buddy_api_url, token.reveal())
    hint = (
        f"the Buddy suite token from {_token_source(settings)} was refused by {base}; check "
        "that it is this suite's current token (its prefix also picks the region)"
    )
    return bearer_client(settings, base, token.reveal(), hint)


def pat_client(settings: Settings) -> HttpClient:
    """A client with the personal access token (``BUDDY_TOKEN``)."""
    token = settings.options_of(SPEC).buddy_token
    if not token:
        raise usage_error(
            "testreport: reading Buddy needs a personal access token with the UNIT_TEST_INFO "
            "scope: set BUDDY_TOKEN"
        )
    suite_token = read_secret(settings, "buddy_ut_token", "buddy_ut_token_file").reveal()
    base = api_url(settings.options_of(SPEC).buddy_api_url, suite_token)  # the suite's region
    hint = (
        f"the Buddy personal access token from BUDDY_TOKEN was refused by {base}; it needs "
        "the UNIT_TEST_INFO scope (UNIT_TEST_MANAGE to open sessions) in this workspace"
    )
    return bearer_client(settings, base, token, hint)


def json_body(response: Any) -> dict[str, Any]:
    """The JSON object of an answer; {} when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
