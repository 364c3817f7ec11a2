"""The Buildkite Test Engine target (spec only; the code is imported on use).

Its modules: ``target`` (the write path), ``mapping`` (the model as executions) and ``reader``
(the CLI's read side over the REST API, and ``--testreport-failed-from=buildkite``).
"""

from __future__ import annotations

from ...option import Option, parse_text
from ..options import deferred, http_options, parse_url, token_option
from ..spec import TargetSpec

BUILDKITE_API_URL = "https://analytics-api.buildkite.com/v1"
BUILDKITE_REST_URL = "https://api.buildkite.com/v2"

_BUILDKITE: tuple[Option, ...] = (
    token_option("buildkite_token", "Test Engine suite API token (or agent OIDC token)",
                 ("BUILDKITE_ANALYTICS_TOKEN",)),
    Option("buildkite_token_file", "file holding the suite API token", metavar="PATH"),
    Option("buildkite_api_url", f"upload API base URL (default {BUILDKITE_API_URL})",
           parse_url, BUILDKITE_API_URL, "URL",
           vendor_env=("BUILDKITE_ANALYTICS_API_URL",)),
    Option("buildkite_tags", "upload tags for every execution (at most 10): KEY=VALUE,... "
           "or a JSON object", deferred(".mapping", "parse_upload_tags", __name__), {},
           "KEY=VALUE,..."),
    Option("buildkite_batch_size", "executions per upload (default 500, at most 5000)",
           deferred(".target", "parse_batch_size", __name__), None, "N"),
    token_option("buildkite_api_token", "REST API token with read_suites, for reading back",
                 ("BUILDKITE_API_TOKEN",)),
    Option("buildkite_org", "organization slug, for reading back", parse_text, None, "SLUG"),
    Option("buildkite_suite", "test suite slug, for reading back", parse_text, None, "SLUG"),
    Option("buildkite_rest_url", f"REST API base URL (default {BUILDKITE_REST_URL})",
           parse_url, BUILDKITE_REST_URL, "URL"),
    *http_options("buildkite", None),
)  # fmt: skip

SPEC = TargetSpec(
    name="buildkite",
    target="pytest_testreport.targets.buildkite.target:BuildkiteTarget",
    options=_BUILDKITE,
    credentials=("BUILDKITE_ANALYTICS_TOKEN",),
    reader="pytest_testreport.targets.buildkite.reader:BuildkiteReader",
)
