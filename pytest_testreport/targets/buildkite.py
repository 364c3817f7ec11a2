"""The ``buildkite`` target: Buildkite Test Engine, results streamed to ``POST /uploads``.

There is no session endpoint: a run is every upload sharing one ``run_env.key``. The key comes
from ``BUILDKITE_ANALYTICS_KEY``, else the CI build (so parallel jobs of one build share a run),
else the session uuid the controller made: never one per worker. Each execution carries the
result's uuid as ``id``, so a repeated upload names the same executions.
Reference: ``../shared/reference/buildkite.md``; reading back lives in ``buildkite_reader.py``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import urlsplit

from .. import __version__
from ..ci import CIInfo
from ..config import Settings, usage_error
from ..engine.secrets import Secret
from ..model import Outcome, ResultKind, Session, TestResult, truncate_lines
from .options import CREDENTIALS, OPTIONS
from .remote import HttpTarget, clean_text, make_client, read_secret

if TYPE_CHECKING:
    import requests

    from ..reading import Reader

log = logging.getLogger("pytest_testreport")

COLLECTOR = "pytest-testreport"
MAX_UPLOAD = 5000  # executions per upload, documented
UPLOAD_BYTES = 8 * 1024 * 1024  # rough JSON size per upload before gzip; the limit is unpublished
MAX_TAGS = 10  # upload tags, and custom tags per execution
TAG_KEY_BYTES, TAG_VALUE_BYTES = 63, 127  # "< 64 bytes", "< 128 bytes"
REASON_CHARS = 1000
EXPANDED_LINES, EXPANDED_BYTES = 200, 32 * 1024
BACKTRACE_ENTRIES = 50
MAX_SPANS, SPAN_CHARS = 100, 1000
MESSAGE_CHARS = 2000
EXECUTION_TAG = "execution_tag:"  # metadata key prefix for @pytest.mark.execution_tag(key, value)
# Our own tags; user keys must not equal them or be dot-prefixes of them.
OWN_TAGS = ("test.attempt", "test.phase", "test.pytest_collection_error", "pytest.outcome",
            "pytest.rerun")  # fmt: skip
# run_env key -> the documented generic override variable.
OVERRIDES = {key: f"BUILDKITE_ANALYTICS_{suffix}" for key, suffix in (
    ("key", "KEY"), ("url", "URL"), ("branch", "BRANCH"), ("commit_sha", "SHA"),
    ("number", "NUMBER"), ("job_id", "JOB_ID"), ("message", "MESSAGE"),
    ("location_prefix", "LOCATION_PREFIX"),
)}  # fmt: skip
RESULTS = {Outcome.PASSED: "passed", Outcome.FAILED: "failed", Outcome.ERROR: "failed",
           Outcome.SKIPPED: "skipped", Outcome.XFAILED: "skipped",
           Outcome.XPASSED: "passed"}  # fmt: skip
_TAG_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_BACKTRACE = re.compile(r"^([^\s:][^:]*\.py):(\d+)(?::|$)")


# -- tags ---------------------------------------------------------------------------------------
def tag_problem(key: str, value: str) -> Optional[str]:
    """Why Buildkite would refuse this tag (reference §1.5), or None."""
    if not _TAG_KEY.fullmatch(key):
        return "keys start with a letter and hold only letters, digits, '_', '-' and '.'"
    if len(key.encode("utf-8")) > TAG_KEY_BYTES:
        return "keys must be shorter than 64 bytes"
    if key == "mut" or key.startswith("mut."):
        return "mut.* keys are reserved for mutable tags"
    if not value.strip():
        return "values must not be blank"
    if len(value.encode("utf-8")) > TAG_VALUE_BYTES:
        return "values must be shorter than 128 bytes"
    return None


def prefix_clash(key: str, keys: Any) -> Optional[str]:
    """A key of ``keys`` that ``key`` is a dot-prefix of (or the reverse)."""
    return next((k for k in keys if k.startswith(key + ".") or key.startswith(k + ".")), None)


def parse_upload_tags(value: str) -> dict[str, str]:
    """``key=value,key2=value2`` or a JSON object; at most 10 tags, each valid for Buildkite."""
    text = value.strip()
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a JSON object: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object of strings")
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    else:
        pairs = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, val = part.partition("=")
            if not sep:
                raise ValueError(f"expected KEY=VALUE, got {part!r}")
            pairs.append((key.strip(), val.strip()))
    tags: dict[str, str] = {}
    for key, val in pairs:
        problem = tag_problem(key, val)
        clash = prefix_clash(key, [*tags, *OWN_TAGS]) or (key if key in OWN_TAGS else None)
        if problem or clash:
            raise ValueError(f"tag {key!r}: {problem or f'clashes with the tag {clash!r}'}")
        tags[key] = val
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} upload tags, got {len(tags)}")
    return tags


def parse_url(value: str) -> str:
    """``testreport_buildkite_api_url`` and ``_rest_url``: an http(s) URL."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http(s):// URL")
    return value.strip().rstrip("/")


def parse_batch_size(value: str) -> int:
    """``testreport_buildkite_batch_size``: 1 to the documented maximum."""
    try:
        size = int(value)
    except ValueError:
        raise ValueError("expected a whole number") from None
    if not 1 <= size <= MAX_UPLOAD:
        raise ValueError(f"expected 1 to {MAX_UPLOAD}")
    return size


def own_tags(result: TestResult) -> dict[str, str]:
    """The tags we add: attempt, error phase, collection error, exact pytest outcome, rerun."""
    tags = {"test.attempt": str(result.attempt)}
    failure = result.failure
    if result.kind is ResultKind.COLLECTION_ERROR:
        tags["test.pytest_collection_error"] = "true"
    elif result.kind is ResultKind.CRASH:
        tags["pytest.outcome"] = "crashed"
    elif result.outcome is Outcome.ERROR:
        tags["pytest.outcome"] = "error"
        if failure is not None and failure.phase in ("setup", "teardown"):
            tags["test.phase"] = failure.phase
    elif result.outcome in (Outcome.XFAILED, Outcome.XPASSED):
        tags["pytest.outcome"] = result.outcome.value
    elif failure is not None and failure.message.startswith("[XPASS(strict)]"):
        tags["pytest.outcome"] = "xpassed"
    if not result.final:
        tags["pytest.rerun"] = "true"
    return tags


def execution_tags(
    result: TestResult, upload_tags: Mapping[str, str], drop: Callable[[str, str], None]
) -> dict[str, str]:
    """Our tags, then ``execution_tag`` markers, then metadata; invalid ones go to ``drop``."""
    tags = own_tags(result)
    if not result.metadata:
        return tags
    marked = [
        (k[len(EXECUTION_TAG) :], v) for k, v in result.metadata if k.startswith(EXECUTION_TAG)
    ]
    plain = [(k, v) for k, v in result.metadata if not k.startswith(EXECUTION_TAG)]
    user: set[str] = set()
    for key, raw in marked + plain:
        if key in user:  # the closest marker (listed first) or the first metadata call wins
            continue
        value = clean_text(raw)
        problem = tag_problem(key, value)
        if problem is None and key in tags:
            problem = "reserved by pytest-testreport"
        clash = None if problem else prefix_clash(key, [*tags, *upload_tags])
        if clash:
            problem = f"clashes with the tag {clash!r}"
        if problem is None and len(tags) >= MAX_TAGS:
            problem = f"more than {MAX_TAGS} tags on one execution"
        if problem:
            drop(key, problem)
            continue
        tags[key] = value
        user.add(key)
    return tags


# -- one execution ------------------------------------------------------------------------------
def backtrace(lines: list[str]) -> list[str]:
    """``file:line`` of each traceback entry, in order, without repeats."""
    seen: dict[str, None] = {}
    for line in lines:
        match = _BACKTRACE.match(line)
        if match:
            seen.setdefault(f"{match.group(1)}:{match.group(2)}", None)
    return list(seen)[:BACKTRACE_ENTRIES]


def expanded(lines: list[str]) -> list[str]:
    """The traceback lines, at most ``EXPANDED_LINES`` lines and about ``EXPANDED_BYTES``."""
    out, used = [], 0
    for line in truncate_lines([clean_text(line) for line in lines], EXPANDED_LINES):
        used += len(line.encode("utf-8")) + 1
        if used > EXPANDED_BYTES:
            out.append(f"… [truncated {len(lines) - len(out)} more lines]")
            break
        out.append(line)
    return out


def history(result: TestResult, origin: float) -> dict[str, Any]:
    """Seconds since the session started, from wall-clock stamps all xdist workers share."""
    start = max(0.0, result.started_at.timestamp() - origin)
    end = max(start, result.finished_at.timestamp() - origin)
    spans = []
    for step in sorted(result.steps, key=lambda s: s.started_at)[:MAX_SPANS]:
        s_start = max(0.0, step.started_at.timestamp() - origin)
        content = " ".join(filter(None, (step.keyword, step.text)))
        if step.result == "failed":
            content += f" (failed: {step.failure})" if step.failure else " (failed)"
        spans.append({
            "section": "annotation",
            "start_at": round(s_start, 6),
            "end_at": round(s_start + step.duration, 6),
            "duration": round(max(0.0, step.duration), 6),
            "detail": {"content": clean_text(content, SPAN_CHARS)},
        })  # fmt: skip
    return {"section": "top", "start_at": round(start, 6), "end_at": round(end, 6),
            "duration": round(max(0.0, result.duration), 6), "children": spans}  # fmt: skip


def _text(value: str) -> str:
    """``clean_text``, with a fast path for the usual printable ASCII node ids."""
    return value if value.isascii() and value.isprintable() else clean_text(value)


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """(scope, name): the name is the last part, parameters included even if they hold ``::``."""
    base, bracket, params = nodeid.partition("[")
    scope, _, name = base.rpartition("::")
    return scope, (name + bracket + params) or nodeid


def to_execution(result: TestResult, origin: float, file_name: str,
                 upload_tags: Mapping[str, str], drop: Callable[[str, str], None],
                 ) -> dict[str, Any]:  # fmt: skip
    """One ``data[]`` record (reference §1.4)."""
    scope, name = split_nodeid(result.nodeid)
    if result.kind is ResultKind.COLLECTION_ERROR:
        scope, name = result.nodeid, result.name or result.nodeid
    record: dict[str, Any] = {
        "id": result.uuid,
        "scope": _text(scope),
        "name": _text(name),
        "location": f"{file_name}:{result.line}" if result.line else file_name,
        "file_name": file_name,
        "result": RESULTS[result.outcome],
        "history": history(result, origin),
        "tags": execution_tags(result, upload_tags, drop),
    }
    if result.failure is not None and record["result"] == "failed":
        record["failure_reason"] = clean_text(result.failure.message, REASON_CHARS)
        lines = result.failure.traceback
        record["failure_expanded"] = [{"expanded": expanded(lines), "backtrace": backtrace(lines)}]
    return record


def _size(result: TestResult) -> int:
    """A cheap estimate of a record's JSON size, to keep uploads reasonably small."""
    failure = result.failure
    text = sum(len(line) + 4 for line in failure.traceback) if failure else 0
    return 600 + min(text, EXPANDED_BYTES) + sum(len(s.text) + 120 for s in result.steps)


def chunks(results: list[TestResult], limit: int = MAX_UPLOAD) -> Iterator[list[TestResult]]:
    """Consecutive slices of at most ``limit`` results and about ``UPLOAD_BYTES``."""
    chunk: list[TestResult] = []
    size = 0
    for result in results:
        estimate = _size(result)
        if chunk and (len(chunk) >= limit or size + estimate > UPLOAD_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(result)
        size += estimate
    if chunk:
        yield chunk


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
    credentials = CREDENTIALS["buildkite"]
    options = OPTIONS["buildkite"]

    def __init__(self, settings: Settings, token: Secret) -> None:
        self.http = make_client(
            settings,
            "buildkite",
            settings.values["buildkite_api_url"],
            {"Authorization": Secret(f'Token token="{token.reveal()}"')},
            auth_hint="check BUILDKITE_ANALYTICS_TOKEN: the suite's API token (Test Engine → "
            "suite → Settings)",
        )
        self.overrides = read_overrides(settings.env)
        self.upload_tags: dict[str, str] = dict(settings.values.get("buildkite_tags") or {})
        # Node id paths are rootdir-relative; Buildkite wants them relative to the working dir.
        self.rootdir, self.cwd = str(settings.rootdir), os.getcwd()
        self._names: dict[str, str] = {}
        self.run_env: dict[str, str] = {}
        self.run_url: Optional[str] = None
        self.uploads = self.queued = self.skipped = 0
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
        if settings.values.get("buildkite_batch_size"):
            target.batch_size = settings.values["buildkite_batch_size"]  # type: ignore[misc]
        return target

    @classmethod
    def reader(cls, settings: Settings) -> Reader:
        from .buildkite_reader import BuildkiteReader

        return BuildkiteReader(settings)

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
        self.uploads += 1
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
