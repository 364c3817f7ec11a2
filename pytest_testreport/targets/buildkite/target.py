"""The ``buildkite`` target: Buildkite Test Engine, results streamed to ``POST /uploads``.

There is no session endpoint: a run is every upload sharing one ``run_env.key``. The key comes
from ``BUILDKITE_ANALYTICS_KEY``, else the CI build (so parallel jobs of one build share a run),
else the session uuid the controller made: never one per worker. Each execution carries the
result's uuid as ``id``, so a repeated upload names the same executions. One execution's
record is mapped in ``mapping.py``; reading back lives in ``reader.py``.
Reference: ``../shared/reference/buildkite.md``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional

from ... import __version__
from ...batching import spans
from ...ci import CIInfo
from ...config import Settings, usage_error
from ...engine.secrets import Secret
from ...model import Session, TestResult
from ..remote import HttpTarget, clean_text, make_client, read_secret
from . import SPEC
from .mapping import EXPANDED_BYTES, to_execution

if TYPE_CHECKING:
    import requests


log = logging.getLogger("pytest_testreport")

COLLECTOR = "pytest-testreport"
MAX_UPLOAD = 5000  # executions per upload, documented
UPLOAD_BYTES = 8 * 1024 * 1024  # rough JSON size per upload before gzip; the limit is unpublished
MESSAGE_CHARS = 2000
# run_env key -> the documented generic override variable.
OVERRIDES = {key: f"BUILDKITE_ANALYTICS_{suffix}" for key, suffix in (
    ("key", "KEY"), ("url", "URL"), ("branch", "BRANCH"), ("commit_sha", "SHA"),
    ("number", "NUMBER"), ("job_id", "JOB_ID"), ("message", "MESSAGE"),
    ("location_prefix", "LOCATION_PREFIX"),
)}  # fmt: skip


# -- option values ------------------------------------------------------------------------------
def parse_batch_size(value: str) -> int:
    """``testreport_buildkite_batch_size``: 1 to the documented maximum."""
    try:
        size = int(value)
    except ValueError:
        raise ValueError("expected a whole number") from None
    if not 1 <= size <= MAX_UPLOAD:
        raise ValueError(f"expected 1 to {MAX_UPLOAD}")
    return size


# -- batching -----------------------------------------------------------------------------------
def _size(result: TestResult) -> int:
    """A cheap estimate of a record's JSON size, to keep uploads reasonably small."""
    failure = result.failure
    text = sum(len(line) + 4 for line in failure.traceback) if failure else 0
    return 600 + min(text, EXPANDED_BYTES) + sum(len(s.text) + 120 for s in result.steps)


def chunks(results: list[TestResult], limit: int = MAX_UPLOAD) -> Iterator[list[TestResult]]:
    """Consecutive slices of at most ``limit`` results and about ``UPLOAD_BYTES``."""
    for begin, end in spans([_size(result) for result in results], limit, UPLOAD_BYTES):
        yield results[begin:end]


# -- run_env ------------------------------------------------------------------------------------
def read_overrides(env: Mapping[str, str]) -> dict[str, str]:
    """The ``BUILDKITE_ANALYTICS_*`` overrides that are set (blank counts as unset)."""
    found = {key: (env.get(var) or "").strip() for key, var in OVERRIDES.items()}
    return {key: value for key, value in found.items() if value}


def branch_name(value: Optional[str]) -> Optional[str]:
    """A branch name, never ``refs/heads/...``."""
    if value and value.startswith("refs/heads/"):
        value = value[len("refs/heads/") :]
    return value or None


def run_branch(ci: CIInfo, overrides: Mapping[str, str]) -> Optional[str]:
    """The branch a run is filed under; a tag build is filed under its tag, like Buildkite's."""
    return branch_name(overrides.get("branch")) or ci.branch or ci.tag


def build_run_env(session: Session, overrides: Mapping[str, str]) -> dict[str, str]:
    """``run_env``: CI detection, then the generic overrides; the key is never per process."""
    ci = session.ci
    values: dict[str, Optional[str]] = {
        "CI": ci.provider if ci.provider != "none" else "generic",
        "key": ci.build_key or session.uuid,
        "url": ci.run_url,
        "branch": ci.branch or ci.tag,
        "commit_sha": ci.revision,
        "number": ci.run_number,
        "job_id": ci.job_id,
        "message": ci.commit_message,
        "collector": COLLECTOR,
        "version": session.plugin_version or __version__,
        "language_version": session.python_version or None,
        "test_runner": "pytest",
    }
    values.update(overrides)
    values["branch"] = run_branch(ci, overrides)
    if values.get("message"):
        values["message"] = clean_text(values["message"], MESSAGE_CHARS)
    return {key: clean_text(value) for key, value in values.items() if value}


def file_name(path: str, rootdir: str, cwd: str, prefix: Optional[str]) -> str:
    """A rootdir-relative ``path`` made relative to the working directory, under the prefix."""
    if path.startswith("<"):  # "<session>": nothing on disk to point at
        return path
    try:
        name = os.path.relpath(os.path.join(rootdir, path), cwd).replace(os.sep, "/")
    except ValueError:  # another drive (Windows): keep the rootdir-relative path
        name = path.replace(os.sep, "/")
    return f"{prefix.rstrip('/')}/{name}" if prefix else name


class BuildkiteTarget(HttpTarget):
    """Uploads batches of executions; opening and closing the run need no request."""

    name = "buildkite"
    batch_size = 500
    batch_age = 2.0

    def __init__(self, settings: Settings, token: Secret) -> None:
        options = settings.options_of(SPEC)
        self.http = make_client(
            settings,
            "buildkite",
            options.buildkite_api_url,
            {"Authorization": Secret(f'Token token="{token.reveal()}"')},
            auth_hint="check BUILDKITE_ANALYTICS_TOKEN: the suite's API token (Test Engine → "
            "suite → Settings)",
        )
        self.overrides = read_overrides(settings.env)
        self.upload_tags: dict[str, str] = dict(options.buildkite_tags or {})
        # Node id paths are rootdir-relative; Buildkite wants them relative to the working dir.
        self.rootdir, self.cwd = str(settings.rootdir), os.getcwd()
        self._names: dict[str, str] = {}
        self.run_env: dict[str, str] = {}
        self.run_url: Optional[str] = None
        self.queued = self.skipped = 0
        self.skip_reasons: list[str] = []
        self.dropped = 0
        self.drop_examples: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> BuildkiteTarget:
        token = read_secret(settings, "buildkite_token", "buildkite_token_file")
        if not token:
            raise usage_error(
                "testreport: the buildkite target needs the suite API token: set "
                "BUILDKITE_ANALYTICS_TOKEN (or TESTREPORT_BUILDKITE_TOKEN, or "
                "testreport_buildkite_token_file)"
            )
        target = cls(settings, token)
        batch_size = settings.options_of(SPEC).buildkite_batch_size
        if batch_size:
            target.batch_size = batch_size  # type: ignore[misc]
        return target

    # -- the run ---------------------------------------------------------------------------------
    def open_session(self, session: Session) -> None:
        """Nothing to call: a run exists once an upload names its key."""
        self.run_env = build_run_env(session, self.overrides)

    def state(self) -> dict[str, Any]:
        # Replay may run elsewhere, with other variables: keep what the run used.
        return {"run_env": self.run_env, "tags": self.upload_tags, "rootdir": self.rootdir,
                "cwd": self.cwd}  # fmt: skip

    def resume(self, state: dict[str, Any], session: Session) -> None:
        self.run_env = dict(state.get("run_env") or build_run_env(session, self.overrides))
        self.upload_tags = dict(state.get("tags", self.upload_tags))
        self.rootdir, self.cwd = state.get("rootdir", self.rootdir), state.get("cwd", self.cwd)

    def send_batch(self, session: Session, results: list[TestResult],
                   progress: dict[str, Any]) -> None:  # fmt: skip
        if not self.run_env:
            self.run_env = build_run_env(session, self.overrides)
        origin = session.started_at.timestamp()
        sent = int(progress.get("sent", 0))
        for chunk in chunks(results[sent:]):
            data = [
                to_execution(r, origin, self._file_name(r.path), self.upload_tags, self._drop)
                for r in chunk
            ]  # fmt: skip
            body: dict[str, Any] = {"format": "json", "run_env": self.run_env, "data": data}
            if self.upload_tags:
                body["tags"] = self.upload_tags
            # Every record carries its result's uuid: a repeated upload names the same records.
            response = self.http.request("POST", "uploads", json=body, compress=True,
                                         idempotent=True)  # fmt: skip
            self._read_answer(response, len(chunk))
            sent += len(chunk)
            progress["sent"] = sent

    def _file_name(self, path: str) -> str:
        if path not in self._names:
            prefix = self.run_env.get("location_prefix")
            self._names[path] = file_name(path, self.rootdir, self.cwd, prefix)
        return self._names[path]

    def close_session(self, session: Session) -> None:
        """Nothing to send: the run is finished once its uploads are processed."""

    # -- what the answers said ---------------------------------------------------------------
    def _read_answer(self, response: requests.Response, count: int) -> None:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        queued, skipped = body.get("queued"), body.get("skipped")
        self.queued += queued if isinstance(queued, int) else count
        self.run_url = body.get("run_url") or self.run_url
        for error in body.get("errors") or ():
            text = clean_text(error if isinstance(error, str) else json.dumps(error), 300)
            if text not in self.skip_reasons and len(self.skip_reasons) < 3:
                self.skip_reasons.append(text)
        if isinstance(skipped, int) and skipped > 0:
            if not self.skipped:
                log.warning("testreport buildkite: Buildkite skipped %d of %d records; see the "
                            "suite's Uploads page", skipped, count)  # fmt: skip
            self.skipped += skipped

    def _drop(self, key: str, problem: str) -> None:
        self.dropped += 1
        if len(self.drop_examples) < 3:
            self.drop_examples.setdefault(key, problem)

    def summary(self, session: Session) -> str:
        key = self.run_env.get("key", "?")
        parts = [f"{session.summary()} — {self.queued} executions in run {key}"]
        if self.skipped:
            why = "; ".join(self.skip_reasons) or "Buildkite gives no reason per record"
            parts.append(f"{self.skipped} skipped by Buildkite ({why}; see the suite's Uploads "
                         "page)")  # fmt: skip
        if self.dropped:
            examples = ", ".join(f"{k!r}: {p}" for k, p in self.drop_examples.items())
            parts.append(f"{self.dropped} invalid tags not sent ({examples})")
        return "; ".join(parts)

    def link(self) -> Optional[str]:
        return self.run_url
