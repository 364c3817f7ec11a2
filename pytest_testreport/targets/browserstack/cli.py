"""The CLI verbs for sharded pipelines: ``browserstack start`` and ``browserstack finish``.

A pipeline starts one build before its shards (which join it through
``TESTREPORT_BROWSERSTACK_BUILD_ID``) and finishes it after the last one. Both verbs drive the
target's own build calls, with a target configured from the environment.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ... import __version__
from ...ci import detect_ci
from ...config import settings_from_env
from ...model import Session
from .config import BrowserStackConfig, client
from .mapping import iso
from .target import BrowserStackTarget

if TYPE_CHECKING:
    from ...config import Settings


def now_iso() -> str:
    """Now, as BrowserStack writes times."""
    return iso(datetime.now(timezone.utc))


def cli_target() -> tuple[BrowserStackTarget, Settings]:
    """A target for the CLI verbs, configured from the environment (never joining a build)."""
    settings = settings_from_env(os.environ, Path.cwd())
    config = BrowserStackConfig.from_settings(settings)
    config.build_id = None  # `start` makes a new build even inside a sharded job's environment
    return BrowserStackTarget(config, client(settings, config)), settings


def add_commands(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``pytest-testreport browserstack start [--export]`` and ``... finish BUILD_ID``."""
    text = "BrowserStack builds for sharded CI: start one before the shards, finish it after"
    parser = verbs.add_parser("browserstack", help=text, description=text)
    sub = parser.add_subparsers(dest="browserstack_command", metavar="COMMAND", required=True)
    start = sub.add_parser("start", help="start a build and print its id",
                           description="start a build and print its id; shards join it "
                           "with TESTREPORT_BROWSERSTACK_BUILD_ID")  # fmt: skip
    start.add_argument(
        "--export",
        action="store_true",
        help="print TESTREPORT_BROWSERSTACK_BUILD_ID=ID (for $GITHUB_ENV)",
    )
    start.set_defaults(run=_cmd_start)
    finish = sub.add_parser(
        "finish",
        help="finish a build after every shard is done",
        description="finish a build after every shard is done",
    )
    finish.add_argument("build_id", metavar="BUILD_ID")
    finish.set_defaults(run=_cmd_finish)


def _cmd_start(args: argparse.Namespace) -> int:
    """``browserstack start``: start a build with this CI run's details and print its id."""
    import pytest  # only for its version: loaded by this verb, not by every CLI start

    target, settings = cli_target()
    session = Session(
        ci=detect_ci(os.environ, Path.cwd(), overrides=settings.overrides),
        rootdir=str(Path.cwd()),
        hostname=socket.gethostname(),
        python_version=platform.python_version(),
        pytest_version=pytest.__version__,
        plugin_version=__version__,
    )
    try:
        build = target.start_build(session)
    finally:
        target.release()
    print(f"TESTREPORT_BROWSERSTACK_BUILD_ID={build}" if args.export else build)
    return 0


def _cmd_finish(args: argparse.Namespace) -> int:
    """``browserstack finish BUILD_ID``: finish the build now."""
    target, _ = cli_target()
    try:
        target.finish_build(args.build_id, now_iso())
    finally:
        target.release()
    print(f"build {args.build_id} finished")
    return 0
