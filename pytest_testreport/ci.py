"""Detect the CI provider and the VCS state of a test run from an environment mapping.

Which provider it is and what its variables say comes from the table in ``ci_providers.py``;
this module turns that into a ``CIInfo``: refs normalised, placeholders dropped, configured
overrides applied, and what CI did not say filled in from git.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, Optional
from urllib.parse import urlsplit, urlunsplit

from .ci_providers import Env, Values, detect_provider, parse_ref, pr_number

__all__ = ["CIInfo", "detect_ci"]

RefType = Literal["TAG", "PULL_REQUEST", "BRANCH"]

_GIT_TIMEOUT = 2.0


@dataclass
class CIInfo:
    """What the CI provider (and git, as a fallback) says about the current run.

    A plain dataclass: the model (model.py) validates and serializes it with pydantic.
    """

    provider: str = "none"
    is_ci: bool = False
    run_url: Optional[str] = None
    run_id: Optional[str] = None
    run_number: Optional[str] = None
    run_attempt: Optional[str] = None
    job_id: Optional[str] = None
    job_name: Optional[str] = None
    workflow: Optional[str] = None
    build_key: Optional[str] = None
    branch: Optional[str] = None
    tag: Optional[str] = None
    pull_request: Optional[str] = None
    base_branch: Optional[str] = None
    revision: Optional[str] = None
    commit_message: Optional[str] = None
    committer: Optional[str] = None
    repository_url: Optional[str] = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ref_type(self) -> Optional[RefType]:
        """Kind of ref built: a PR wins over a tag, which wins over a branch."""
        if self.pull_request:
            return "PULL_REQUEST"
        if self.tag:
            return "TAG"
        if self.branch:
            return "BRANCH"
        return None


def _strip_credentials(url: Optional[str]) -> Optional[str]:
    """Drop user:password@ from a URL, since clone URLs sometimes embed tokens."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url


def _normalise(values: Values) -> Values:
    """Turn refs into plain branch/tag/PR values and drop placeholder values."""
    ref_branch, ref_tag, ref_pr = parse_ref(values.pop("ref", None))
    branch, branch_tag, branch_pr = parse_ref(values.get("branch"))
    tag = parse_ref(values.get("tag"))
    values["tag"] = tag[1] or tag[0] or branch_tag or ref_tag
    values["pull_request"] = pr_number(values.get("pull_request")) or branch_pr or ref_pr
    values["branch"] = branch or ref_branch
    # tag builds often report the tag name as the "branch" too (Buildkite, Jenkins, GitLab)
    if values["branch"] and values["branch"] == values["tag"]:
        values["branch"] = None
    values["base_branch"] = parse_ref(values.get("base_branch"))[0]
    if values.get("revision") == "HEAD":  # Buildkite's placeholder for "whatever is checked out"
        values["revision"] = None
    values["repository_url"] = _strip_credentials(values.get("repository_url"))
    return values


def _apply_overrides(values: Values, overrides: Mapping[str, Optional[str]]) -> None:
    """Let explicitly configured values win over detected ones."""
    given = {k: str(v).strip() for k, v in overrides.items() if v is not None and str(v).strip()}
    for key in ("revision", "run_url", "run_id"):
        if key in given:
            values[key] = given[key]
    if "run_id" in given and not values.get("build_key"):
        values["build_key"] = given["run_id"]  # still lets uploads of one run be grouped
    if "branch" in given:
        branch, tag, pull_request = parse_ref(given["branch"])
        if tag:  # "refs/tags/v1" given as the branch really names a tag
            values["branch"], values["tag"] = None, tag
        elif branch:
            values["branch"] = branch
        if pull_request:
            values["pull_request"] = pull_request


def _git(cwd: Optional[Path], *args: str) -> Optional[str]:
    """Run a read-only git command; None on any failure (no git, not a repo, timeout...)."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    output = proc.stdout.strip()
    return output if proc.returncode == 0 and output else None


def _fill_from_git(values: Values, cwd: Optional[Path]) -> None:
    """Fill what CI did not tell us from the local checkout."""
    # a user's log.showSignature=true would prepend GPG output to what we parse
    head = _git(cwd, "-c", "log.showSignature=false", "log", "-1", "--format=%H%x00%an%x00%B")
    if head:
        sha, author, message = [*head.split("\x00", 2), "", ""][:3]
        revision = values.get("revision") or sha
        values["revision"] = revision
        # only describe the commit git sees if it is the one being reported
        if len(revision) >= 7 and sha.lower().startswith(revision.lower()):
            values["commit_message"] = values.get("commit_message") or message.strip() or None
            values["committer"] = values.get("committer") or author.strip() or None
    if not values.get("branch") and not values.get("tag"):
        values["branch"] = parse_ref(_git(cwd, "rev-parse", "--abbrev-ref", "HEAD"))[0]


def detect_ci(
    env: Mapping[str, str],
    cwd: Optional[Path] = None,
    *,
    overrides: Optional[Mapping[str, Optional[str]]] = None,
    use_git: bool = True,
) -> CIInfo:
    """Describe the current run from ``env``, ``overrides`` and (optionally) git in ``cwd``."""
    provider, values, extra = detect_provider(Env(env))
    values = _normalise(values)
    _apply_overrides(values, overrides or {})
    if use_git and not (
        values.get("revision")
        and values.get("commit_message")
        and values.get("committer")
        and (values.get("branch") or values.get("tag"))
    ):
        _fill_from_git(values, cwd)
    names = {f.name for f in fields(CIInfo)}
    known = {key: value for key, value in values.items() if key in names}
    return CIInfo(provider=provider, is_ci=provider != "none", extra=extra, **known)
