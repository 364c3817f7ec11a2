"""The CLI verbs for one Buddy session shared by several pytest runs (sharded CI).

``buddy open`` creates a session (with CI detection) and prints its id for the shards'
``BUDDY_SESSION_ID``; ``buddy close`` closes it after the last shard; ``buddy reopen`` reopens
it, e.g. before a late replay. They use the suite token when set, else a personal access token
with the workspace, project and suite named.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional
from urllib.parse import quote

from ...ci import detect_ci
from ...config import Settings, settings_from_env, usage_error
from ...engine.errors import DeliveryError, RejectedError
from ...reading import NotFound
from ..remote import read_secret
from . import SPEC
from .client import json_body, pat_client, suite_client
from .junit import session_payload

if TYPE_CHECKING:
    from ...engine.http import HttpClient


def add_commands(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``pytest-testreport buddy open [--export]``, ``buddy close ID``, ``buddy reopen ID``."""
    text = "Buddy.works helpers: one session shared by several pytest runs (sharded CI)"
    buddy = verbs.add_parser("buddy", help=text, description=text)
    commands = buddy.add_subparsers(dest="buddy_command", metavar="COMMAND", required=True)
    sub = commands.add_parser("open", help="create a session (with CI detection); print its id")
    sub.add_argument("--export", action="store_true", help="print BUDDY_SESSION_ID=ID")
    sub.set_defaults(run=_cmd_open)
    for name, text in (
        ("close", "close a session (after the last shard)"),
        ("reopen", "reopen a closed session, e.g. before a late replay"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("session", metavar="SESSION", help="the session id")
        sub.set_defaults(run=_cmd_close if name == "close" else _cmd_reopen)


def _workspace_path(settings: Settings) -> Optional[str]:
    """The suite's path for a personal token, or None when a name is missing."""
    options = settings.options_of(SPEC)
    names = [options.buddy_workspace, options.buddy_project, options.buddy_suite]
    if not all(names):
        return None
    ws, project, suite = (quote(str(n), safe="") for n in names)
    return f"workspaces/{ws}/projects/{project}/unit-tests/suites/{suite}"


def cli_client(settings: Settings) -> tuple[HttpClient, str]:
    """The suite token's client and path prefix, else the PAT's (workspace path)."""
    if read_secret(settings, "buddy_ut_token", "buddy_ut_token_file"):
        return suite_client(settings), "unit-tests"
    base = _workspace_path(settings)
    if base is None or not settings.options_of(SPEC).buddy_token:
        raise usage_error(
            "testreport: set BUDDY_UT_TOKEN (the suite token), or BUDDY_TOKEN with "
            "TESTREPORT_BUDDY_WORKSPACE, TESTREPORT_BUDDY_PROJECT and TESTREPORT_BUDDY_SUITE"
        )
    return pat_client(settings), base


def _settings() -> Settings:
    """The environment, then the ini file of the working directory (as replay reads them)."""
    return settings_from_env(os.environ, Path.cwd())


def _cmd_open(args: argparse.Namespace) -> int:
    """``buddy open``: create a session and print its id."""
    settings = _settings()
    client, base = cli_client(settings)
    ci = detect_ci(settings.env, Path.cwd(), overrides=settings.overrides)
    try:
        response = client.request(
            "POST", f"{base}/sessions", json=session_payload(ci), idempotent=False
        )
    finally:
        client.close()
    body = json_body(response)
    if not body.get("id"):
        raise DeliveryError("Buddy created a session but its answer has no id")
    print(f"BUDDY_SESSION_ID={body['id']}" if args.export else body["id"])
    print(f"buddy session {body['id']} opened: {body.get('html_url') or '-'}", file=sys.stderr)
    return 0


def _session_command(args: argparse.Namespace, action: str) -> int:
    """``buddy close`` / ``buddy reopen``: act on the session and print what Buddy counted."""
    settings = _settings()
    client, base = cli_client(settings)
    path = f"{base}/sessions/{quote(args.session, safe='')}/{action}"
    try:
        body = json_body(client.request("POST", path))
    except RejectedError as exc:
        if exc.status == 404:
            raise NotFound(f"no Buddy session {args.session!r} in this suite") from None
        raise
    finally:
        client.close()
    words = {"tests_count": "tests", "failed_count": "failed", "skipped_count": "skipped",
             "error_count": "errors"}  # fmt: skip
    counts = ", ".join(f"{body.get(key) or 0} {word}" for key, word in words.items())
    done = {"close": "closed", "reopen": "reopened"}[action]
    print(
        f"buddy session {args.session} {done}: {body.get('status') or '-'} ({counts}) "
        f"{body.get('html_url') or ''}".rstrip()
    )
    return 0


def _cmd_close(args: argparse.Namespace) -> int:
    return _session_command(args, "close")


def _cmd_reopen(args: argparse.Namespace) -> int:
    return _session_command(args, "reopen")
