"""The Buddy target (spec only; the code is imported on use).

Its modules: ``target`` (the write path), ``junit`` (the model as Buddy's cases), ``client``
(HTTP clients and the API URL), ``reader`` (the CLI's read side) and ``cli`` (its verbs).
"""

from __future__ import annotations

from ...option import Option, parse_bool
from ..options import deferred, http_options, token_option
from ..spec import TargetSpec

BUDDY_DATA_LIMIT = 64 * 1024  # bytes of one ``data`` fragment

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
        deferred(".client", "parse_api_url", __name__),
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
        deferred(".target", "parse_data_limit", __name__),
        BUDDY_DATA_LIMIT,
        "BYTES",
    ),
    *http_options("buddy"),
)

SPEC = TargetSpec(
    name="buddy",
    target="pytest_testreport.targets.buddy.target:BuddyTarget",
    options=_BUDDY,
    credentials=("BUDDY_UT_TOKEN",),
    reader="pytest_testreport.targets.buddy.reader:BuddyReader",
    cli="pytest_testreport.targets.buddy.cli:add_commands",
)
