"""Tests for CI/VCS detection (pytest_testreport.ci)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

import pytest

from pytest_testreport import ci, ci_providers
from pytest_testreport.ci import CIInfo, detect_ci

SHA = "0123456789abcdef0123456789abcdef01234567"

GITHUB = {
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/widgets",
    "GITHUB_RUN_ID": "9876543210",
    "GITHUB_RUN_NUMBER": "42",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_JOB": "tests",
    "GITHUB_WORKFLOW": "CI",
    "GITHUB_SHA": SHA,
    "GITHUB_ACTOR": "octocat",
}
GITLAB = {
    "CI": "true",
    "GITLAB_CI": "true",
    "CI_PIPELINE_URL": "https://gitlab.com/acme/widgets/-/pipelines/1001",
    "CI_PIPELINE_ID": "1001",
    "CI_PIPELINE_IID": "77",
    "CI_JOB_ID": "5005",
    "CI_JOB_NAME": "pytest 1/2",
    "CI_PROJECT_PATH": "acme/widgets",
    "CI_PROJECT_URL": "https://gitlab.com/acme/widgets",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_MESSAGE": "Fix the frobnicator\n\nLonger body.",
    "CI_COMMIT_AUTHOR": "Jane Doe <jane@example.com>",
}
CIRCLE = {
    "CI": "true",
    "CIRCLECI": "true",
    "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/widgets/321",
    "CIRCLE_BUILD_NUM": "321",
    "CIRCLE_WORKFLOW_ID": "6a1c2f5e-0d1f-4c5b-9a7e-2f0e1d3c4b5a",
    "CIRCLE_JOB": "test",
    "CIRCLE_SHA1": SHA,
    "CIRCLE_USERNAME": "jdoe",
}
BUILDKITE = {
    "CI": "true",
    "BUILDKITE": "true",
    "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/widgets/builds/88",
    "BUILDKITE_BUILD_ID": "0190b0b4-2b5e-4c3a-8d9f-1e2d3c4b5a69",
    "BUILDKITE_BUILD_NUMBER": "88",
    "BUILDKITE_JOB_ID": "0190b0b4-aaaa-4c3a-8d9f-1e2d3c4b5a69",
    "BUILDKITE_LABEL": ":pytest: tests",
    "BUILDKITE_PIPELINE_SLUG": "widgets",
    "BUILDKITE_COMMIT": SHA,
    "BUILDKITE_MESSAGE": "Fix the frobnicator",
    "BUILDKITE_BUILD_AUTHOR": "Jane Doe",
    "BUILDKITE_RETRY_COUNT": "0",
    "BUILDKITE_PULL_REQUEST": "false",
    "BUILDKITE_TAG": "",
}
BUDDY = {
    "CI": "true",
    "BUDDY": "true",
    "BUDDY_PIPELINE_ID": "17",
    "BUDDY_PIPELINE_NAME": "Run tests",
    "BUDDY_EXECUTION_ID": "5d9dc42c422f5a26",
    "BUDDY_EXECUTION_URL": "https://app.buddy.works/acme/widgets/pipelines/pipeline/17/execution"
    "/5d9dc42c422f5a26",
    "BUDDY_ACTION_EXECUTION_ID": "68f1edd1def5c92bcd57c",
    "BUDDY_EXECUTION_REVISION": SHA,
    "BUDDY_EXECUTION_REVISION_MESSAGE": "Fix the frobnicator",
    "BUDDY_EXECUTION_REVISION_COMMITTER_EMAIL": "jane@example.com",
}
JENKINS = {
    "JENKINS_URL": "https://jenkins.example.com/",
    "JENKINS_HOME": "/var/jenkins_home",
    "BUILD_URL": "https://jenkins.example.com/job/widgets/job/main/12/",
    "BUILD_ID": "12",
    "BUILD_NUMBER": "12",
    "BUILD_TAG": "jenkins-widgets-main-12",
    "JOB_NAME": "widgets/main",
    "GIT_COMMIT": SHA,
    "GIT_URL": "https://ci-bot:s3cret@git.example.com/acme/widgets.git",
}
AZURE = {
    "TF_BUILD": "True",
    "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
    "SYSTEM_TEAMPROJECT": "Widget Factory",
    "BUILD_BUILDID": "555",
    "BUILD_BUILDNUMBER": "20240101.3",
    "SYSTEM_JOBID": "12f1170f-54f2-53f3-20dd-22fc7dff55f9",
    "SYSTEM_JOBATTEMPT": "1",
    "BUILD_DEFINITIONNAME": "widgets-ci",
    "BUILD_SOURCEVERSION": SHA,
    "BUILD_SOURCEVERSIONMESSAGE": "Fix the frobnicator",
    "BUILD_REQUESTEDFOR": "Jane Doe",
}
AZURE_URL = "https://dev.azure.com/acme/Widget%20Factory/_build/results?buildId=555"
BITBUCKET = {
    "CI": "true",
    "BITBUCKET_BUILD_NUMBER": "31",
    "BITBUCKET_GIT_HTTP_ORIGIN": "http://bitbucket.org/acme/widgets",
    "BITBUCKET_PIPELINE_UUID": "{a1b2c3d4-0000-4000-8000-000000000001}",
    "BITBUCKET_STEP_UUID": "{a1b2c3d4-0000-4000-8000-000000000002}",
    "BITBUCKET_COMMIT": SHA,
}
BB_URL = "http://bitbucket.org/acme/widgets/pipelines/results/31"


def case(base: dict[str, str], **env: str) -> dict[str, str]:
    """A provider's base env plus the variables specific to one build kind."""
    return {**base, **env}


# id -> (env, expected CIInfo attributes); attributes not listed are not asserted.
# fmt: off
PROVIDER_CASES: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "github-branch": (
        case(GITHUB, GITHUB_EVENT_NAME="push", GITHUB_REF="refs/heads/main",
             GITHUB_REF_NAME="main", GITHUB_REF_TYPE="branch"),
        {"provider": "github_actions", "branch": "main", "tag": None, "pull_request": None,
         "run_url": "https://github.com/acme/widgets/actions/runs/9876543210",
         "build_key": "9876543210-2", "run_attempt": "2", "revision": SHA,
         "committer": "octocat", "workflow": "CI", "ref_type": "BRANCH"},
    ),
    "github-tag": (
        case(GITHUB, GITHUB_EVENT_NAME="push", GITHUB_REF="refs/tags/v1.2.0",
             GITHUB_REF_NAME="v1.2.0", GITHUB_REF_TYPE="tag"),
        {"branch": None, "tag": "v1.2.0", "pull_request": None, "ref_type": "TAG"},
    ),
    "github-pr": (
        case(GITHUB, GITHUB_EVENT_NAME="pull_request", GITHUB_REF="refs/pull/123/merge",
             GITHUB_REF_NAME="123/merge", GITHUB_REF_TYPE="branch",
             GITHUB_HEAD_REF="feature/login", GITHUB_BASE_REF="main"),
        {"branch": "feature/login", "pull_request": "123", "base_branch": "main",
         "ref_type": "PULL_REQUEST"},
    ),
    "github-no-GITHUB_REF": (
        case(GITHUB, GITHUB_REF_NAME="release/2.x", GITHUB_REF_TYPE="branch"),
        {"branch": "release/2.x", "tag": None},
    ),
    "gitlab-branch": (
        case(GITLAB, CI_COMMIT_BRANCH="main", CI_COMMIT_REF_NAME="main"),
        {"provider": "gitlab", "branch": "main", "tag": None, "pull_request": None,
         "run_url": "https://gitlab.com/acme/widgets/-/pipelines/1001", "run_id": "1001",
         "run_number": "77", "build_key": "1001", "job_id": "5005", "revision": SHA,
         "commit_message": "Fix the frobnicator\n\nLonger body.",
         "committer": "Jane Doe <jane@example.com>"},
    ),
    "gitlab-tag": (
        case(GITLAB, CI_COMMIT_TAG="v1.2.0", CI_COMMIT_REF_NAME="v1.2.0"),
        {"branch": None, "tag": "v1.2.0", "ref_type": "TAG"},
    ),
    "gitlab-mr": (
        case(GITLAB, CI_COMMIT_REF_NAME="feature/login", CI_MERGE_REQUEST_IID="7",
             CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature/login",
             CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main"),
        {"branch": "feature/login", "pull_request": "7", "base_branch": "main"},
    ),
    "circleci-branch": (
        case(CIRCLE, CIRCLE_BRANCH="main"),
        {"provider": "circleci", "branch": "main", "pull_request": None,
         "run_url": "https://circleci.com/gh/acme/widgets/321",
         "build_key": "6a1c2f5e-0d1f-4c5b-9a7e-2f0e1d3c4b5a", "run_number": "321",
         "revision": SHA, "committer": "jdoe", "job_name": "test"},
    ),
    "circleci-tag": (
        case(CIRCLE, CIRCLE_TAG="v1.2.0"),
        {"branch": None, "tag": "v1.2.0"},
    ),
    "circleci-pr": (
        case(CIRCLE, CIRCLE_BRANCH="feature/login",
             CIRCLE_PULL_REQUEST="https://github.com/acme/widgets/pull/45"),
        {"branch": "feature/login", "pull_request": "45", "ref_type": "PULL_REQUEST"},
    ),
    "buildkite-branch": (
        case(BUILDKITE, BUILDKITE_BRANCH="main"),
        {"provider": "buildkite", "branch": "main", "tag": None, "pull_request": None,
         "run_url": "https://buildkite.com/acme/widgets/builds/88",
         "build_key": "0190b0b4-2b5e-4c3a-8d9f-1e2d3c4b5a69", "run_number": "88",
         "run_attempt": "1", "job_name": ":pytest: tests", "workflow": "widgets",
         "revision": SHA, "commit_message": "Fix the frobnicator", "committer": "Jane Doe"},
    ),
    "buildkite-tag": (
        # Buildkite reports the tag name as the branch on tag builds
        case(BUILDKITE, BUILDKITE_BRANCH="v1.2.0", BUILDKITE_TAG="v1.2.0"),
        {"branch": None, "tag": "v1.2.0", "ref_type": "TAG"},
    ),
    "buildkite-pr-retry": (
        case(BUILDKITE, BUILDKITE_BRANCH="feature/login", BUILDKITE_PULL_REQUEST="45",
             BUILDKITE_PULL_REQUEST_BASE_BRANCH="main", BUILDKITE_RETRY_COUNT="2"),
        {"branch": "feature/login", "pull_request": "45", "base_branch": "main",
         "run_attempt": "3"},
    ),
    "buddy-branch": (
        case(BUDDY, BUDDY_EXECUTION_BRANCH="main"),
        {"provider": "buddy", "branch": "main", "tag": None, "pull_request": None,
         "run_url": BUDDY["BUDDY_EXECUTION_URL"], "build_key": "5d9dc42c422f5a26",
         "revision": SHA, "workflow": "Run tests", "commit_message": "Fix the frobnicator",
         "committer": "jane@example.com",
         "extra": {"execution_id": "5d9dc42c422f5a26",
                   "action_execution_id": "68f1edd1def5c92bcd57c", "pipeline_id": "17"}},
    ),
    "buddy-tag": (
        case(BUDDY, BUDDY_EXECUTION_TAG="v1.2.0"),
        {"branch": None, "tag": "v1.2.0", "ref_type": "TAG"},
    ),
    "buddy-pr": (
        case(BUDDY, BUDDY_EXECUTION_BRANCH="feature/login",
             BUDDY_EXECUTION_PULL_REQUEST_NO="9",
             BUDDY_EXECUTION_PULL_REQUEST_BASE_BRANCH="main"),
        {"branch": "feature/login", "pull_request": "9", "base_branch": "main"},
    ),
    "buddy-run-variables": (
        # newer Buddy names: BUDDY_RUN_* / *_RUN_HASH win over the BUDDY_EXECUTION_* aliases
        case(BUDDY, BUDDY_RUN_HASH="aaaa1111", BUDDY_ACTION_RUN_HASH="bbbb2222",
             BUDDY_RUN_URL="https://app.buddy.works/run/aaaa1111", BUDDY_RUN_BRANCH="develop",
             BUDDY_RUN_REF_TYPE="BRANCH", BUDDY_RUN_REF_NAME="develop"),
        {"branch": "develop", "build_key": "aaaa1111",
         "run_url": "https://app.buddy.works/run/aaaa1111",
         "extra": {"execution_id": "aaaa1111", "action_execution_id": "bbbb2222",
                   "pipeline_id": "17"}},
    ),
    "jenkins-branch": (
        case(JENKINS, BRANCH_NAME="main", GIT_BRANCH="origin/main"),
        {"provider": "jenkins", "branch": "main", "tag": None, "pull_request": None,
         "run_url": "https://jenkins.example.com/job/widgets/job/main/12/",
         "build_key": "jenkins-widgets-main-12", "run_number": "12", "revision": SHA,
         "workflow": "widgets/main",
         "repository_url": "https://git.example.com/acme/widgets.git"},
    ),
    "jenkins-git-branch-only": (
        case(JENKINS, GIT_BRANCH="origin/feature/login"),
        {"branch": "feature/login"},
    ),
    "jenkins-tag": (
        case(JENKINS, BRANCH_NAME="v1.2.0", TAG_NAME="v1.2.0"),
        {"branch": None, "tag": "v1.2.0"},
    ),
    "jenkins-pr": (
        case(JENKINS, BRANCH_NAME="PR-12", CHANGE_ID="12", CHANGE_BRANCH="feature/login",
             CHANGE_TARGET="main"),
        {"branch": "feature/login", "pull_request": "12", "base_branch": "main"},
    ),
    "azure-branch": (
        case(AZURE, BUILD_SOURCEBRANCH="refs/heads/main"),
        {"provider": "azure_pipelines", "branch": "main", "tag": None, "pull_request": None,
         "run_url": AZURE_URL, "build_key": "555", "run_number": "20240101.3",
         "run_attempt": "1", "workflow": "widgets-ci", "revision": SHA,
         "commit_message": "Fix the frobnicator", "committer": "Jane Doe"},
    ),
    "azure-tag": (
        case(AZURE, BUILD_SOURCEBRANCH="refs/tags/v1.2.0"),
        {"branch": None, "tag": "v1.2.0"},
    ),
    "azure-pr-github": (
        case(AZURE, BUILD_SOURCEBRANCH="refs/pull/17/merge",
             SYSTEM_PULLREQUEST_PULLREQUESTNUMBER="17",
             SYSTEM_PULLREQUEST_SOURCEBRANCH="refs/heads/feature/login",
             SYSTEM_PULLREQUEST_TARGETBRANCH="refs/heads/main"),
        {"branch": "feature/login", "pull_request": "17", "base_branch": "main"},
    ),
    "azure-pr-number-from-ref-only": (
        case(AZURE, BUILD_SOURCEBRANCH="refs/pull/18/merge",
             SYSTEM_PULLREQUEST_SOURCEBRANCH="feature/x"),
        {"branch": "feature/x", "pull_request": "18"},
    ),
    "bitbucket-branch": (
        case(BITBUCKET, BITBUCKET_BRANCH="main"),
        {"provider": "bitbucket", "branch": "main", "tag": None, "pull_request": None,
         "run_url": BB_URL, "run_number": "31",
         "run_id": "a1b2c3d4-0000-4000-8000-000000000001",
         "job_id": "a1b2c3d4-0000-4000-8000-000000000002",
         "build_key": "a1b2c3d4-0000-4000-8000-000000000001", "revision": SHA},
    ),
    "bitbucket-tag": (
        case(BITBUCKET, BITBUCKET_TAG="v1.2.0"),
        {"branch": None, "tag": "v1.2.0"},
    ),
    "bitbucket-pr": (
        case(BITBUCKET, BITBUCKET_BRANCH="feature/login", BITBUCKET_PR_ID="5",
             BITBUCKET_PR_DESTINATION_BRANCH="main"),
        {"branch": "feature/login", "pull_request": "5", "base_branch": "main"},
    ),
}
# fmt: on


# case-id prefix -> provider name the case must be detected as
PROVIDER_OF_PREFIX = {"github": "github_actions", "azure": "azure_pipelines"}


@pytest.mark.parametrize("name", PROVIDER_CASES)
def test_provider_detection(name: str) -> None:
    env, expected = PROVIDER_CASES[name]
    prefix = name.split("-")[0]
    info = detect_ci(env, use_git=False)
    assert info.is_ci is True
    assert info.provider == PROVIDER_OF_PREFIX.get(prefix, prefix)
    assert {key: getattr(info, key) for key in expected} == expected
    if info.branch is not None:
        assert not info.branch.startswith(("refs/", "origin/"))


def test_every_provider_is_covered_by_the_table() -> None:
    covered = {detect_ci(env, use_git=False).provider for env, _ in PROVIDER_CASES.values()}
    assert covered == {p.name for p in ci_providers.PROVIDERS}


def test_github_pull_request_target_reads_pr_number_from_event_payload(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 321, "pull_request": {"number": 321}}))
    env = case(GITHUB, GITHUB_EVENT_NAME="pull_request_target", GITHUB_REF="refs/heads/main",
               GITHUB_HEAD_REF="feature/x", GITHUB_BASE_REF="main",
               GITHUB_EVENT_PATH=str(event))  # fmt: skip
    info = detect_ci(env, use_git=False)
    assert (info.branch, info.pull_request, info.base_branch) == ("feature/x", "321", "main")


def test_github_unreadable_event_payload_is_ignored(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("not json")
    env = case(GITHUB, GITHUB_EVENT_NAME="pull_request_target", GITHUB_REF="refs/heads/main",
               GITHUB_HEAD_REF="feature/x", GITHUB_EVENT_PATH=str(event))  # fmt: skip
    info = detect_ci(env, use_git=False)
    assert info.pull_request is None
    assert info.branch == "feature/x"


@pytest.mark.parametrize("value", ["true", "1", "TRUE", "yes"])
def test_generic_ci(value: str) -> None:
    info = detect_ci({"CI": value, "HOME": "/root"}, use_git=False)
    assert (info.provider, info.is_ci) == ("generic", True)
    assert info.build_key is None and info.run_url is None


@pytest.mark.parametrize("env", [{}, {"CI": "false"}, {"CI": ""}, {"CI": "0"}])
def test_not_ci(env: dict[str, str]) -> None:
    info = detect_ci(env, use_git=False)
    assert info == CIInfo()
    assert (info.provider, info.is_ci, info.ref_type) == ("none", False, None)


def test_empty_values_count_as_absent() -> None:
    assert detect_ci({"GITHUB_ACTIONS": "", "BUILDKITE": "  "}, use_git=False).provider == "none"
    env = case(GITHUB, GITHUB_REF="refs/heads/main", GITHUB_HEAD_REF="", GITHUB_BASE_REF="")
    info = detect_ci(env, use_git=False)
    assert (info.branch, info.base_branch, info.pull_request) == ("main", None, None)


@pytest.mark.parametrize(
    "env",
    [
        case(BUILDKITE, BUILDKITE_PULL_REQUEST="not-a-number", BUILDKITE_RETRY_COUNT="x"),
        case(GITHUB, GITHUB_REF="refs/pull/abc/merge", GITHUB_RUN_ATTEMPT=""),
        case(BITBUCKET, BITBUCKET_PIPELINE_UUID="{}", BITBUCKET_GIT_HTTP_ORIGIN=""),
        case(JENKINS, GIT_URL="http://[::1", CHANGE_ID="PR"),
        case(AZURE, BUILD_SOURCEBRANCH="refs/tags/", SYSTEM_TEAMPROJECT=""),
    ],
    ids=["buildkite", "github", "bitbucket", "jenkins", "azure"],
)
def test_garbage_values_do_not_raise(env: dict[str, str]) -> None:
    info = detect_ci(env, use_git=False)
    assert info.is_ci is True
    assert info.pull_request is None
    assert info.tag is None


def test_tag_given_as_full_ref_is_normalised() -> None:
    info = detect_ci(case(JENKINS, TAG_NAME="refs/tags/v1.2.0"), use_git=False)
    assert (info.tag, info.ref_type) == ("v1.2.0", "TAG")


def test_buildkite_head_placeholder_is_not_a_revision() -> None:
    info = detect_ci(case(BUILDKITE, BUILDKITE_COMMIT="HEAD"), use_git=False)
    assert info.revision is None


def test_run_attempt_and_github_build_key_default() -> None:
    env = {k: v for k, v in GITHUB.items() if k != "GITHUB_RUN_ATTEMPT"}
    info = detect_ci(env, use_git=False)
    assert (info.run_attempt, info.build_key) == (None, "9876543210-1")


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("refs/heads/feature/x", ("feature/x", None, None)),
        ("feature/x", ("feature/x", None, None)),
        ("refs/tags/v2.0", (None, "v2.0", None)),
        ("refs/pull/99/merge", ("main", None, "99")),
    ],
)
def test_overrides_branch_is_normalised(
    branch: str, expected: tuple[Optional[str], Optional[str], Optional[str]]
) -> None:
    env = case(GITHUB, GITHUB_REF="refs/heads/main")
    info = detect_ci(env, overrides={"branch": branch}, use_git=False)
    assert (info.branch, info.tag, info.pull_request) == expected


def test_overrides_win_over_detected_values() -> None:
    env = case(GITHUB, GITHUB_REF="refs/heads/main")
    overrides = {"revision": "f" * 40, "run_url": "https://ci.example/run/1", "run_id": "run-1"}
    info = detect_ci(env, overrides=overrides, use_git=False)
    assert (info.revision, info.run_url, info.run_id) == ("f" * 40, "https://ci.example/run/1",
                                                          "run-1")  # fmt: skip
    assert info.build_key == "9876543210-2"  # a detected build key is kept


def test_overrides_none_or_blank_are_ignored() -> None:
    env = case(GITHUB, GITHUB_REF="refs/heads/main")
    overrides = {"branch": None, "revision": "", "run_url": None, "run_id": None}
    assert detect_ci(env, overrides=overrides, use_git=False) == detect_ci(env, use_git=False)


def test_overrides_outside_ci_and_run_id_becomes_build_key() -> None:
    overrides = {"branch": "refs/heads/dev", "revision": "a" * 40, "run_id": "nightly-7"}
    info = detect_ci({}, overrides=overrides, use_git=False)
    assert (info.provider, info.branch, info.revision) == ("none", "dev", "a" * 40)
    assert info.build_key == "nightly-7"


# --- git fallback ----------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=Test Author", "-c", "user.email=author@example.com",
           "-c", "commit.gpgsign=false", *args]  # fmt: skip
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def no_parent_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep git from finding a repository above tmp_path (e.g. when /tmp is inside one)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))


@pytest.fixture
def repo(tmp_path: Path, no_parent_repo: None) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    git(path, "checkout", "-q", "-b", "feature/git-fallback")
    (path / "a.txt").write_text("a\n")
    git(path, "add", "a.txt")
    git(path, "commit", "-q", "-m", "Add a.txt\n\nWith a body.")
    return path


@needs_git
def test_git_fallback_outside_ci(repo: Path) -> None:
    info = detect_ci({}, repo)
    assert info.provider == "none"
    assert info.revision == git(repo, "rev-parse", "HEAD")
    assert info.branch == "feature/git-fallback"
    assert info.commit_message == "Add a.txt\n\nWith a body."
    assert info.committer == "Test Author"


@needs_git
def test_git_fallback_fills_only_what_ci_left_unknown(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    env = case(GITHUB, GITHUB_REF="refs/heads/main", GITHUB_SHA=head)
    info = detect_ci(env, repo)
    assert (info.branch, info.revision, info.committer) == ("main", head, "octocat")
    assert info.commit_message == "Add a.txt\n\nWith a body."  # same commit, so git may describe it


@needs_git
def test_git_does_not_describe_a_different_commit(repo: Path) -> None:
    info = detect_ci(case(GITHUB, GITHUB_REF="refs/heads/main"), repo)
    assert info.revision == SHA
    assert info.commit_message is None


@needs_git
@pytest.mark.parametrize(("length", "described"), [(12, True), (40, True), (3, False)])
def test_git_matches_abbreviated_revisions(repo: Path, length: int, described: bool) -> None:
    head = git(repo, "rev-parse", "HEAD")
    info = detect_ci({}, repo, overrides={"revision": head[:length]})
    assert info.revision == head[:length]
    assert (info.commit_message is not None) is described


@needs_git
def test_git_fills_branch_even_when_ci_gave_the_commit_details(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    env = case(BUILDKITE, BUILDKITE_COMMIT=head)  # complete commit details, but no branch
    assert detect_ci(env, repo).branch == "feature/git-fallback"


def test_git_is_not_run_when_ci_told_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_git(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"git should not run: {args}")

    monkeypatch.setattr(ci.subprocess, "run", no_git)
    info = detect_ci(case(BUILDKITE, BUILDKITE_BRANCH="main"))
    assert (info.branch, info.revision, info.committer) == ("main", SHA, "Jane Doe")


@needs_git
def test_git_undecodable_commit_message_does_not_raise(repo: Path) -> None:
    message = repo.parent / "message.txt"
    message.write_bytes(b"caf\xe9 au lait\n")  # Latin-1 bytes, not valid UTF-8
    # an encoding iconv does not know makes `git log` pass the raw bytes through
    git(repo, "-c", "i18n.commitEncoding=x-unknown", "commit", "-q", "--allow-empty", "-F",
        str(message))  # fmt: skip
    info = detect_ci({}, repo)
    assert info.commit_message == "caf\ufffd au lait"
    assert info.revision == git(repo, "rev-parse", "HEAD")


@needs_git
def test_git_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    info = detect_ci({}, repo)
    assert info.branch is None
    assert info.revision == git(repo, "rev-parse", "HEAD")


@needs_git
def test_use_git_false_leaves_fields_unknown(repo: Path) -> None:
    info = detect_ci({}, repo, use_git=False)
    assert (info.revision, info.branch, info.commit_message, info.committer) == (None,) * 4


@needs_git
def test_overrides_win_over_git(repo: Path) -> None:
    info = detect_ci({}, repo, overrides={"branch": "release", "revision": "b" * 40})
    assert (info.branch, info.revision) == ("release", "b" * 40)
    assert info.commit_message is None  # git's HEAD is not the overridden revision


@needs_git
def test_non_repo_directory_gives_none(tmp_path: Path, no_parent_repo: None) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    info = detect_ci({}, plain)
    assert (info.revision, info.branch, info.commit_message) == (None, None, None)


def test_missing_directory_gives_none(tmp_path: Path) -> None:
    info = detect_ci({}, tmp_path / "does-not-exist")
    assert (info.revision, info.branch) == (None, None)


def test_missing_git_binary_gives_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no git on PATH
    info = detect_ci({}, tmp_path)
    assert (info.revision, info.branch) == (None, None)


def test_git_timeout_gives_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def slow_git(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs)
        raise subprocess.TimeoutExpired(cmd=args[0], timeout=kwargs["timeout"])

    monkeypatch.setattr(ci.subprocess, "run", slow_git)
    info = detect_ci({}, tmp_path)
    assert (info.revision, info.branch) == (None, None)
    assert calls and all(0 < call["timeout"] <= 2 for call in calls)
    assert all(call["stdin"] is subprocess.DEVNULL for call in calls)
