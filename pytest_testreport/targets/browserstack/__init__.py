"""The BrowserStack target (spec only; the code is imported on use).

Its modules: ``target`` (the write path), ``mapping`` and ``hooks`` (the model as test runs),
``config`` (settings and client), ``lookup``, ``reader`` (the CLI's read side), ``cli``.
"""

from __future__ import annotations

from ...option import Option, parse_choice, parse_seconds
from ..options import deferred, http_options, parse_url, token_option
from ..spec import TargetSpec

BROWSERSTACK_API_URL = "https://api-automation.browserstack.com/ext/v1"
# The "Upload JUnit XML reports" API (reference §12): the bulk lane's one request per session.
BROWSERSTACK_UPLOAD_URL = "https://upload-automation.browserstack.com/upload"
BROWSERSTACK_MODES = ("auto", "live", "junit")
BROWSERSTACK_HOOK_MODES = ("none", "slow-or-failed", "all")
BROWSERSTACK_LOG_MODES = ("failed", "all")

_BROWSERSTACK: tuple[Option, ...] = (
    Option("browserstack_username", "BrowserStack username (also BROWSERSTACK_USERNAME)",
           metavar="USER", vendor_env=("BROWSERSTACK_USERNAME",)),
    token_option("browserstack_access_key", "BrowserStack access key (also "
                 "BROWSERSTACK_ACCESS_KEY); environment or ini only", ("BROWSERSTACK_ACCESS_KEY",)),
    Option("browserstack_api_url", f"BrowserStack API base URL (default {BROWSERSTACK_API_URL})",
           parse_url, BROWSERSTACK_API_URL, "URL"),
    Option("browserstack_upload_url", "JUnit XML upload URL of the junit lane (default "
           f"{BROWSERSTACK_UPLOAD_URL})", parse_url, BROWSERSTACK_UPLOAD_URL, "URL"),
    Option("browserstack_mode", "lane: live (test runs as tests run), junit (one JUnit XML "
           "upload after the last test) or auto (default: live unless the request budget "
           "cannot carry the collected tests in time)", parse_choice(*BROWSERSTACK_MODES),
           "auto", "MODE"),
    Option("browserstack_project", "project name (also BROWSERSTACK_PROJECT_NAME; default: the "
           "rootdir's name)", metavar="NAME", vendor_env=("BROWSERSTACK_PROJECT_NAME",)),
    Option("browserstack_build_name", "build name (also BROWSERSTACK_BUILD_NAME; default: the CI "
           "job or workflow name, else pytest)", metavar="NAME",
           vendor_env=("BROWSERSTACK_BUILD_NAME",)),
    Option("browserstack_build_tags", "build tags, comma-separated",
           deferred(".config", "parse_build_tags", __name__), [], "TAGS"),
    Option("browserstack_build_id", "join this started build (sharded CI; see pytest-testreport "
           "browserstack start); the run does not finish it", metavar="BUILD_ID"),
    Option("browserstack_environment", "test run environment, e.g. browser=chrome,os=Windows "
           "(fields device, os, os_version, browser, browser_version)",
           deferred(".config", "parse_environment", __name__), {}, "FIELD=VALUE,..."),
    Option("browserstack_hooks", "fixture setup/teardown as hook runs: none, slow-or-failed "
           "(default) or all", parse_choice(*BROWSERSTACK_HOOK_MODES), "slow-or-failed", "MODE"),
    Option("browserstack_hook_threshold", "seconds from which a setup/teardown is slow (1)",
           parse_seconds, 1.0, "SECONDS"),
    Option("browserstack_logs", "send captured logs of: failed (default) or all tests",
           parse_choice(*BROWSERSTACK_LOG_MODES), "failed", "MODE"),
    *http_options("browserstack", "1600/300"),
)  # fmt: skip

SPEC = TargetSpec(
    name="browserstack",
    target="pytest_testreport.targets.browserstack.target:BrowserStackTarget",
    options=_BROWSERSTACK,
    # As the vendors' collectors do (issue 2): both variables turn the target on in CI. They are
    # also set for BrowserStack Automate; ini testreport_auto = false opts out.
    credentials=("BROWSERSTACK_USERNAME", "BROWSERSTACK_ACCESS_KEY"),
    reader="pytest_testreport.targets.browserstack.reader:BrowserStackReader",
    cli="pytest_testreport.targets.browserstack.cli:add_commands",
)
