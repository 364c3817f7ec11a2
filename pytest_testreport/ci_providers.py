"""The CI providers we recognise: how each one is detected and which variables say what.

One table row per provider maps its environment variables onto ``CIInfo`` fields, with a
function for values that need computing (URLs, attempts, PR numbers from event payloads). Kept
apart from ``ci.py``, which turns what a provider said into a ``CIInfo`` (normalising refs,
applying overrides, asking git), so that adding a provider touches only this table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import quote

Values = dict[str, Optional[str]]

_TRUE = frozenset({"true", "1", "yes", "on"})
# "123", "#123", "PR-123" (Jenkins), or a URL/ref path segment such as ".../pull/123/merge"
_PR_RE = re.compile(
    r"^(?:#|PR-)?(\d+)$"
    r"|(?:^|/)(?:pull|pulls|pull-requests|merge-requests|merge_requests)/(\d+)(?:/|$)",
    re.IGNORECASE,
)


# --- reading the environment and refs ---------------------------------------------------------


class Env:
    """Read-only view of an env mapping in which blank values count as absent."""

    def __init__(self, env: Optional[Mapping[str, str]]) -> None:
        self._env: Mapping[str, str] = env if env is not None else {}

    def get(self, *names: str) -> Optional[str]:
        """Return the first non-blank value among ``names``."""
        for name in names:
            try:
                value = self._env.get(name)
            except Exception:  # a hostile Mapping must not break the test run
                value = None
            if value is not None and str(value).strip():
                return str(value).strip()
        return None

    def flag(self, name: str) -> bool:
        """True if ``name`` holds a true-ish value ("true", "1", ...)."""
        return (self.get(name) or "").lower() in _TRUE


def pr_number(value: Optional[str]) -> Optional[str]:
    """Extract a PR/MR number from "123", "#123", "PR-123", a PR URL or a refs/pull/... ref."""
    match = _PR_RE.search(value.strip()) if value else None
    return str(int(match.group(1) or match.group(2))) if match else None


def parse_ref(
    ref: Optional[str], *, strip_remote: bool = False
) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """Split a branch name or git ref into (branch, tag, pull_request)."""
    ref = (ref or "").strip()
    if ref.startswith("refs/tags/"):
        return None, ref[len("refs/tags/") :] or None, None
    if ref.startswith(("refs/pull/", "refs/pull-requests/", "refs/merge-requests/")):
        return None, None, pr_number(ref)
    if strip_remote:  # Jenkins' GIT_BRANCH is the remote-tracking name, e.g. "origin/main"
        for prefix in ("refs/remotes/origin/", "remotes/origin/", "origin/"):
            if ref.startswith(prefix):
                ref = ref[len(prefix) :]
                break
    ref = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else ref
    # "HEAD" means a detached checkout, which names no branch
    return (ref if ref and ref != "HEAD" else None), None, None


def _strip_braces(value: Optional[str]) -> Optional[str]:
    """Bitbucket wraps its UUIDs in braces; they are noise in URLs and keys."""
    return (value.strip("{}") or None) if value else None


# --- provider-specific computed values -------------------------------------------------------


def _github(env: Env) -> Values:
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    repo, run_id = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    ref = env.get("GITHUB_REF")
    if ref is None:  # fall back to the short name + type pair
        prefix = {"branch": "refs/heads/", "tag": "refs/tags/"}.get(
            env.get("GITHUB_REF_TYPE") or ""
        )
        name = env.get("GITHUB_REF_NAME")
        ref = prefix + name if prefix and name else None
    return {
        "ref": ref,
        "run_url": f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else None,
        "repository_url": f"{server}/{repo}" if repo else None,
        # a re-run reuses GITHUB_RUN_ID, so the attempt is needed to keep builds apart
        "build_key": f"{run_id}-{env.get('GITHUB_RUN_ATTEMPT') or '1'}" if run_id else None,
        "pull_request": None if parse_ref(ref)[2] else _github_event_pr(env),
    }


def _github_event_pr(env: Env) -> Optional[str]:
    """PR number from the event payload: pull_request_target runs carry no refs/pull/N ref."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not (env.get("GITHUB_EVENT_NAME") or "").startswith("pull_request"):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            event = json.load(handle)
        number = (event.get("pull_request") or {}).get("number") or event.get("number")
    except Exception:  # unreadable or unexpected payload: the PR number is optional
        return None
    return str(number) if number else None


def _buildkite(env: Env) -> Values:
    retries = env.get("BUILDKITE_RETRY_COUNT") or ""
    # BUILDKITE_RETRY_COUNT is 0 on the first run; report a 1-based attempt like GitHub does
    return {"run_attempt": str(int(retries) + 1) if retries.isdigit() else None}


def _buddy(env: Env) -> Values:
    ref_type, ref_name = (
        (env.get("BUDDY_RUN_REF_TYPE") or "").upper(),
        env.get("BUDDY_RUN_REF_NAME"),
    )
    return {
        "tag": ref_name if ref_type == "TAG" else None,
        "pull_request": pr_number(ref_name) if ref_type == "PULL_REQUEST" else None,
    }


def _jenkins(env: Env) -> Values:
    # multibranch PR jobs set BRANCH_NAME to "PR-12"; CHANGE_BRANCH is the real head branch
    branch = env.get("CHANGE_BRANCH", "BRANCH_NAME")
    return {"branch": branch or parse_ref(env.get("GIT_BRANCH"), strip_remote=True)[0]}


def _azure(env: Env) -> Values:
    collection, project = env.get("SYSTEM_COLLECTIONURI"), env.get("SYSTEM_TEAMPROJECT")
    build_id = env.get("BUILD_BUILDID")
    url = None
    if collection and project and build_id:
        url = f"{collection.rstrip('/')}/{quote(project)}/_build/results?buildId={build_id}"
    return {"run_url": url}


def _bitbucket(env: Env) -> Values:
    origin = env.get("BITBUCKET_GIT_HTTP_ORIGIN")
    if not origin and env.get("BITBUCKET_REPO_FULL_NAME"):
        origin = f"https://bitbucket.org/{env.get('BITBUCKET_REPO_FULL_NAME')}"
    number, uuid = (
        env.get("BITBUCKET_BUILD_NUMBER"),
        _strip_braces(env.get("BITBUCKET_PIPELINE_UUID")),
    )
    return {
        "run_url": f"{origin.rstrip('/')}/pipelines/results/{number}"
        if origin and number
        else None,
        "run_id": uuid,
        "job_id": _strip_braces(env.get("BITBUCKET_STEP_UUID")),
        "build_key": uuid or number,
        "repository_url": origin,
    }


@dataclass(frozen=True)
class Provider:
    """How to recognise one CI provider and map its variables onto CIInfo fields."""

    name: str
    detect: Callable[[Env], bool]
    # CIInfo field (or "ref": a full git ref) -> space-separated env var names, first non-blank wins
    fields: Mapping[str, str]
    compute: Callable[[Env], Values] = lambda env: {}  # values not None override `fields`
    extra: Mapping[str, str] = field(default_factory=dict)  # CIInfo.extra key -> env var names


# Order matters only when several providers' markers are set at once.
PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "github_actions",
        lambda env: env.flag("GITHUB_ACTIONS"),
        {
            "run_id": "GITHUB_RUN_ID",
            "run_number": "GITHUB_RUN_NUMBER",
            "run_attempt": "GITHUB_RUN_ATTEMPT",
            "job_id": "GITHUB_JOB",
            "job_name": "GITHUB_JOB",  # the display name is not exposed; the job key is the best
            "workflow": "GITHUB_WORKFLOW",
            "branch": "GITHUB_HEAD_REF",  # only set for pull_request(_target) events
            "base_branch": "GITHUB_BASE_REF",
            "revision": "GITHUB_SHA",
            "committer": "GITHUB_ACTOR",
        },
        _github,
    ),
    Provider(
        "gitlab",
        lambda env: env.flag("GITLAB_CI"),
        {
            "run_url": "CI_PIPELINE_URL",
            "run_id": "CI_PIPELINE_ID",
            "run_number": "CI_PIPELINE_IID",
            "job_id": "CI_JOB_ID",
            "job_name": "CI_JOB_NAME",
            "workflow": "CI_PIPELINE_NAME CI_PROJECT_PATH",
            "build_key": "CI_PIPELINE_ID",
            "branch": "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME CI_COMMIT_BRANCH CI_COMMIT_REF_NAME",
            "tag": "CI_COMMIT_TAG",
            "pull_request": "CI_MERGE_REQUEST_IID",
            "base_branch": "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
            "revision": "CI_COMMIT_SHA",
            "commit_message": "CI_COMMIT_MESSAGE",
            "committer": "CI_COMMIT_AUTHOR",
            "repository_url": "CI_PROJECT_URL",
        },
    ),
    Provider(
        "circleci",
        lambda env: env.flag("CIRCLECI"),
        {
            "run_url": "CIRCLE_BUILD_URL",
            "run_id": "CIRCLE_WORKFLOW_ID",
            "run_number": "CIRCLE_BUILD_NUM",
            "job_id": "CIRCLE_WORKFLOW_JOB_ID CIRCLE_BUILD_NUM",
            "job_name": "CIRCLE_JOB",
            "build_key": "CIRCLE_WORKFLOW_ID",
            "branch": "CIRCLE_BRANCH",
            "tag": "CIRCLE_TAG",
            "pull_request": "CIRCLE_PR_NUMBER CIRCLE_PULL_REQUEST",  # the latter is a PR URL
            "revision": "CIRCLE_SHA1",
            "committer": "CIRCLE_USERNAME",
            "repository_url": "CIRCLE_REPOSITORY_URL",
        },
    ),
    Provider(
        "buildkite",
        lambda env: env.flag("BUILDKITE"),
        {
            "run_url": "BUILDKITE_BUILD_URL",
            "run_id": "BUILDKITE_BUILD_ID",
            "run_number": "BUILDKITE_BUILD_NUMBER",
            "job_id": "BUILDKITE_JOB_ID",
            "job_name": "BUILDKITE_LABEL BUILDKITE_STEP_KEY",
            "workflow": "BUILDKITE_PIPELINE_SLUG",
            "build_key": "BUILDKITE_BUILD_ID",
            "branch": "BUILDKITE_BRANCH",
            "tag": "BUILDKITE_TAG",
            "pull_request": "BUILDKITE_PULL_REQUEST",  # "false" when not a PR
            "base_branch": "BUILDKITE_PULL_REQUEST_BASE_BRANCH",
            "revision": "BUILDKITE_COMMIT",  # may be "HEAD" on manual builds
            "commit_message": "BUILDKITE_MESSAGE",
            "committer": "BUILDKITE_BUILD_AUTHOR BUILDKITE_BUILD_CREATOR",
            "repository_url": "BUILDKITE_REPO",
        },
        _buildkite,
    ),
    Provider(
        "buddy",
        lambda env: env.flag("BUDDY"),
        # Buddy renamed BUDDY_EXECUTION_* to BUDDY_RUN_*; read both so older setups still work
        {
            "run_url": "BUDDY_RUN_URL BUDDY_EXECUTION_URL",
            "run_id": "BUDDY_RUN_ID BUDDY_EXECUTION_ID",
            "job_id": "BUDDY_ACTION_RUN_HASH BUDDY_ACTION_EXECUTION_ID",
            "workflow": "BUDDY_PIPELINE_NAME",
            "build_key": "BUDDY_RUN_HASH BUDDY_EXECUTION_ID",
            "branch": "BUDDY_RUN_PR_HEAD_BRANCH BUDDY_EXECUTION_PULL_REQUEST_HEAD_BRANCH"
            " BUDDY_RUN_BRANCH BUDDY_EXECUTION_BRANCH",
            "tag": "BUDDY_EXECUTION_TAG",
            "pull_request": "BUDDY_RUN_PR_NO BUDDY_EXECUTION_PULL_REQUEST_NO"
            " BUDDY_EXECUTION_PULL_REQUEST_ID",
            "base_branch": "BUDDY_RUN_PR_BASE_BRANCH BUDDY_EXECUTION_PULL_REQUEST_BASE_BRANCH",
            "revision": "BUDDY_RUN_COMMIT BUDDY_EXECUTION_REVISION",
            "commit_message": "BUDDY_EXECUTION_REVISION_MESSAGE",
            "committer": "BUDDY_EXECUTION_REVISION_COMMITTER_NAME"
            " BUDDY_EXECUTION_REVISION_COMMITTER_EMAIL",
            "repository_url": "BUDDY_SCM_URL",
        },
        _buddy,
        extra={
            "execution_id": "BUDDY_RUN_HASH BUDDY_EXECUTION_ID",
            "action_execution_id": "BUDDY_ACTION_RUN_HASH BUDDY_ACTION_EXECUTION_ID",
            "pipeline_id": "BUDDY_PIPELINE_ID",
            "action_id": "BUDDY_ACTION_ID",
            "triggering_actor_id": "BUDDY_TRIGGERING_ACTOR_ID",
        },
    ),
    Provider(
        "jenkins",
        lambda env: bool(
            env.get("JENKINS_URL") or (env.get("BUILD_TAG") and env.get("JENKINS_HOME"))
        ),
        {
            "run_url": "BUILD_URL",
            "run_id": "BUILD_ID",
            "run_number": "BUILD_NUMBER",
            "job_name": "STAGE_NAME",
            "workflow": "JOB_NAME",
            "build_key": "BUILD_TAG",
            "tag": "TAG_NAME",
            "pull_request": "CHANGE_ID",
            "base_branch": "CHANGE_TARGET",
            "revision": "GIT_COMMIT",
            "committer": "GIT_COMMITTER_NAME CHANGE_AUTHOR",
            "repository_url": "GIT_URL",
        },
        _jenkins,
    ),
    Provider(
        "azure_pipelines",
        lambda env: env.flag("TF_BUILD"),
        {
            "run_id": "BUILD_BUILDID",
            "run_number": "BUILD_BUILDNUMBER",
            "run_attempt": "SYSTEM_JOBATTEMPT",
            "job_id": "SYSTEM_JOBID",
            "job_name": "SYSTEM_JOBDISPLAYNAME SYSTEM_JOBNAME",
            "workflow": "BUILD_DEFINITIONNAME",
            "build_key": "BUILD_BUILDID",
            "ref": "BUILD_SOURCEBRANCH",
            "branch": "SYSTEM_PULLREQUEST_SOURCEBRANCH",
            "pull_request": "SYSTEM_PULLREQUEST_PULLREQUESTNUMBER SYSTEM_PULLREQUEST_PULLREQUESTID",
            "base_branch": "SYSTEM_PULLREQUEST_TARGETBRANCH",
            "revision": "BUILD_SOURCEVERSION",
            "commit_message": "BUILD_SOURCEVERSIONMESSAGE",
            "committer": "BUILD_REQUESTEDFOR",
            "repository_url": "BUILD_REPOSITORY_URI",
        },
        _azure,
    ),
    Provider(
        "bitbucket",
        lambda env: env.get("BITBUCKET_BUILD_NUMBER") is not None,
        {
            "run_number": "BITBUCKET_BUILD_NUMBER",
            "branch": "BITBUCKET_BRANCH",
            "tag": "BITBUCKET_TAG",
            "pull_request": "BITBUCKET_PR_ID",
            "base_branch": "BITBUCKET_PR_DESTINATION_BRANCH",
            "revision": "BITBUCKET_COMMIT",
        },
        _bitbucket,
    ),
)


def _lookup(env: Env, table: Mapping[str, str]) -> Values:
    """Each key's first non-blank variable among its space-separated names."""
    return {key: env.get(*names.split()) for key, names in table.items()}


def detect_provider(env: Env) -> tuple[str, Values, dict[str, str]]:
    """(provider name, CIInfo values, CIInfo.extra) of the first provider whose marker is set."""
    for spec in PROVIDERS:
        if spec.detect(env):
            values = _lookup(env, spec.fields)
            try:
                computed = spec.compute(env)
            except Exception:  # a provider quirk must never break the test run
                computed = {}
            values.update({key: value for key, value in computed.items() if value is not None})
            extra = {k: v for k, v in _lookup(env, spec.extra).items() if v is not None}
            return spec.name, values, extra
    return ("generic" if env.flag("CI") else "none"), {}, {}
