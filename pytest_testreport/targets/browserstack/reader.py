"""The CLI's read side for BrowserStack (``list/show/failed --target browserstack``).

The verbs for sharded pipelines (``browserstack start`` / ``finish``) are in ``cli``.
Uses the ``/ext/v1`` read endpoints (reference §4, known from a community spec): projects,
builds of a project, one build, the latest build and a build's test runs, each paged with an
opaque ``next_page`` cursor. Answers are mapped to the CLI's shapes (``reading.py``); an answer
of an unexpected shape is a clear ``UnexpectedAnswer``, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional, Union

from ...answers import UnexpectedAnswer
from ...engine.errors import RejectedError
from ...reading import (
    LATEST,
    Json,
    NotFound,
    Reader,
    Unsupported,
    failure_object,
    not_found,
    page_of,
    parse_time,
    result_object,
    session_object,
)
from . import answers
from .answers import Build, Run

if TYPE_CHECKING:
    import requests

    from ...config import Settings
    from ...engine.http import HttpClient

MAX_PAGES = 10_000  # a cursor that never ends is a service bug, not a reason to loop forever
_OUTCOMES = frozenset({"passed", "failed", "error", "skipped", "xfailed", "xpassed"})
_KINDS = {"collection_error": "collection_error", "crashed": "crash"}
_STATUS_OUTCOME = {"passed": "passed", "failed": "failed", "timeout": "failed",
                   "skipped": "skipped"}  # fmt: skip
_RUNNING = frozenset({"running", "in_progress", "pending", "queued", "started"})
_PASSED = frozenset({"passed", "success", "successful", "completed"})


def answer(response: requests.Response, what: str) -> Json:
    """The JSON object of a 2xx answer; ``success: false`` is a refusal (reference §7)."""
    if not response.content.strip():
        return {}
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UnexpectedAnswer(
            f"BrowserStack answered {what} with {response.status_code} and a body that is not "
            f"a JSON object: {response.text[:200]!r}"
        )
    if data.get("success") is False:
        message = str(data.get("message") or data.get("errors") or data)[:500]
        raise RejectedError(response.status_code, "success: false", message)
    return data


def listed(data: Json, keys: tuple[str, ...], what: str) -> list[Json]:
    """The list of items in a page, under the first of ``keys`` the answer has."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return value
    raise UnexpectedAnswer(
        f"BrowserStack answered {what} without a list under {' or '.join(keys)} "
        f"(keys: {', '.join(sorted(data)) or 'none'}); the read API may have changed"
    )


def paged(http: HttpClient, path: str, keys: tuple[str, ...],
          params: Optional[dict[str, Any]] = None) -> Iterator[Json]:  # fmt: skip
    """Every item of a paged list, following ``pagination.next_page``."""
    cursor: Optional[str] = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        query = dict(params or {})
        if cursor:
            query["next_page"] = cursor
        what = f"GET {path}"
        data = answer(http.request("GET", path, params=query or None), what)
        yield from listed(data, keys, what)
        pagination = data.get("pagination")
        cursor = pagination.get("next_page") if isinstance(pagination, dict) else None
        if not cursor:
            return
        if cursor in seen:
            raise UnexpectedAnswer(f"BrowserStack repeated the page cursor of {what}")
        seen.add(str(cursor))
    raise UnexpectedAnswer(f"BrowserStack's {path} did not stop paging after {MAX_PAGES} pages")


def _first(value: Any) -> Optional[str]:
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def build_id(build: Build) -> str:
    found = build.ident()
    if found is None:
        keys = ", ".join(sorted(build.model_dump(exclude_none=True)))
        raise UnexpectedAnswer(f"a BrowserStack build without an id (keys: {keys})")
    return found


def session_from_build(build: Union[Build, Json]) -> Json:
    """A build as the CLI's session object."""
    if not isinstance(build, Build):
        build = answers.build(build)
    stats = build.status_stats
    count = {k: int(v) for k, v in stats.items() if isinstance(v, (int, float))}
    failed = count.get("failed", 0) + count.get("timeout", 0)
    raw = str(build.status or "").lower()
    if raw in _RUNNING:
        state, message = "in_progress", None
    elif raw in _PASSED and not failed:
        state, message = "successful", None
    else:
        state = "error"
        message = f"{failed} failed" if failed else (f"status {raw}" if raw else None)
    vcs, ci = build.version_control, build.ci_info
    ident = build_id(build)
    return session_object(
        id=ident,
        uuid=ident,
        status=state,
        error_message=message,
        branch=vcs.branch,
        revision=vcs.sha,
        started_at=build.started_at,
        finished_at=build.finished_at,
        counts=(sum(count.values()), count.get("passed", 0), failed, count.get("skipped", 0), 0),
        ci_provider=ci.name,
        run_url=ci.build_url,
    )


def failure_message(lines: list[str]) -> str:
    """The error line of a pytest traceback: the first line of its last block of ``E`` lines
    (the lines after it explain it: ``+  where …``); else its last non-empty line."""
    end = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("E ")), None)
    if end is None:
        return next((line.strip() for line in reversed(lines) if line.strip()), "")
    start = end
    while start > 0 and lines[start - 1].startswith("E "):
        start -= 1
    return lines[start].removeprefix("E").strip()


def result_from_run(run: Union[Run, Json]) -> Json:
    """A test run as the CLI's test object; our ``custom_metadata`` restores pytest's view."""
    if not isinstance(run, Run):
        run = answers.run(run)
    meta = run.custom_metadata
    name = run.name or ""
    scopes = run.scopes
    nodeid = _first(meta.get("pytest.nodeid")) or "::".join([*scopes, name])
    label = _first(meta.get("pytest.outcome"))
    status = (run.status or "").lower()
    kind = _KINDS.get(label or "", "test")
    if kind != "test":
        outcome = "error"
    elif label in _OUTCOMES:
        outcome = label
    else:
        outcome = _STATUS_OUTCOME.get(status, "error")
    path = run.file_name or (scopes[0] if scopes else nodeid.split("::")[0])
    line = None
    where = run.location
    if where is not None and where.rpartition(":")[2].isdigit():
        line = int(where.rpartition(":")[2])
    lines = [line_ for entry in run.failure for line_ in entry.backtrace]
    failure = None
    if lines:
        failure = failure_object(failure_message(lines), _first(meta.get("pytest.phase")),
                                 lines)  # fmt: skip
    elif status not in _STATUS_OUTCOME:
        failure = failure_object(f"the test run is {status or 'unfinished'} on BrowserStack",
                                 None, [])  # fmt: skip
    pairs = [
        (key, str(value))
        for key, values in meta.items()
        if key != "attempt" and not key.startswith(("pytest.", "testreport."))
        for value in (values if isinstance(values, list) else [values])
    ]
    duration = run.duration
    attempt = _first(meta.get("attempt"))
    return result_object(
        nodeid=nodeid,
        name=name,
        path=path,
        line=line,
        kind=kind,
        outcome=outcome,
        reason=_first(meta.get("pytest.reason")),
        duration=duration / 1000 if duration is not None else 0.0,
        attempt=int(attempt) if attempt and attempt.isdigit() else 1,
        final=_first(meta.get("pytest.final")) != "false",
        worker=_first(meta.get("pytest.worker")),
        started_at=run.started_at,
        finished_at=run.finished_at,
        failure=failure,
        steps=[],
        metadata=pairs,
        tags=run.tags,
    )


# Answers seen from the service list a build's runs under ``hierarchy`` (reference §13).
RUN_KEYS = ("test_runs", "testRuns", "runs", "hierarchy")
_CHILD_KEYS = ("children", "nodes", "tests", *RUN_KEYS)
BUILD_LOOKUP_MAX = 200  # newest builds searched on replay for a build whose start answer was lost


def find_build(http: HttpClient, project: str, name: str, started: datetime) -> Optional[str]:
    """The id of the project's build with this name and start time (to the millisecond)."""
    started = started.replace(microsecond=started.microsecond // 1000 * 1000)
    found = [p for p in paged(http, "projects", ("projects",)) if p.get("name") == project]
    if not found:
        return None
    builds = paged(http, f"projects/{found[0].get('id')}/builds", ("builds",))
    for _, raw in zip(range(BUILD_LOOKUP_MAX), builds):
        build = answers.build(raw)
        if build.name == name and parse_time(build.started_at) == started:
            return build_id(build)
    return None


def flat_runs(items: Iterator[Json]) -> Iterator[Json]:
    """Test runs, also when a ``hierarchy`` nests them in groups (file, scope) [Inferred]: a
    node with a list of nodes under a child key is a group, every other node a run."""
    stack = list(items)[::-1]
    while stack:
        node = stack.pop()
        children = next((node[k] for k in _CHILD_KEYS if isinstance(node.get(k), list)), None)
        if children is None:
            yield node
        else:
            stack.extend(child for child in reversed(children) if isinstance(child, dict))


def build_runs(http: HttpClient, build: str, params: Optional[dict[str, Any]] = None) -> list[Json]:
    """Every test run of a build, across pages, whatever list key the answer used."""
    return list(flat_runs(paged(http, f"builds/{build}/testRuns", RUN_KEYS, params)))


class BrowserStackReader(Reader):
    """Builds of one project, read from ``/ext/v1``."""

    @classmethod
    def from_settings(cls, settings: Settings) -> BrowserStackReader:
        from .config import BrowserStackConfig, client  # the write path's settings and client

        config = BrowserStackConfig.from_settings(settings)
        return cls(client(settings, config), config.project)

    def __init__(self, http: HttpClient, project: str) -> None:
        self.http = http
        self.project = project

    def describe(self) -> str:
        return f"BrowserStack project {self.project!r}"

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, params: Optional[dict[str, Any]] = None) -> Json:
        return answer(self.http.request("GET", path, params=params), f"GET {path}")

    def _project_id(self) -> str:
        for project in paged(self.http, "projects", ("projects",)):
            if project.get("name") == self.project and project.get("id") is not None:
                return str(project["id"])
        raise NotFound(f"no project named {self.project!r} on BrowserStack (set "
                       "BROWSERSTACK_PROJECT_NAME to the project's name)")  # fmt: skip

    @staticmethod
    def _no_branch(branch: Optional[str]) -> None:
        if branch:
            raise Unsupported("--branch is not supported with --target browserstack: "
                           "BrowserStack's build list has no branch filter")  # fmt: skip

    def list_sessions(self, branch: Optional[str], page: int, per_page: int) -> list[Json]:
        self._no_branch(branch)
        builds = paged(self.http, f"projects/{self._project_id()}/builds", ("builds",))
        return [session_from_build(answers.build(b)) for b in page_of(builds, page, per_page)]

    def session(self, ref: str, branch: Optional[str]) -> Json:
        self._no_branch(branch)
        try:
            if ref == LATEST:
                build = self._get("builds/latest", {"project_name": self.project})
            else:
                build = self._get(f"builds/{ref}")
        except RejectedError as exc:
            if exc.status == 404:
                raise not_found(ref, branch, self.describe()) from None
            raise
        if "build" in build and isinstance(build["build"], dict):
            build = build["build"]  # an envelope some read endpoints use
        return session_from_build(answers.build(build))

    def _runs(self, build: str, statuses: Optional[str] = None) -> list[Json]:
        params = {"test_statuses": statuses} if statuses else None
        return [result_from_run(answers.run(r)) for r in build_runs(self.http, build, params)]

    def get_session(self, ref: str, branch: Optional[str]) -> Json:
        session = self.session(ref, branch)
        return {**session, "tests": self._runs(session["id"])}

    def failed(self, ref: str, branch: Optional[str]) -> list[Json]:
        session = self.session(ref, branch)
        runs = self._runs(session["id"], "failed,timeout")
        return [t for t in runs if t["final"] and t["outcome"] in ("failed", "error")]

    def flaky(self, last: int, min_flips: int, branch: Optional[str]) -> list[Json]:
        raise Unsupported("flaky is not available with --target browserstack; "
                       "BrowserStack's dashboard marks flaky tests itself")  # fmt: skip

    def slow(self, top: int, last: int, branch: Optional[str]) -> list[Json]:
        raise Unsupported("slow is not available with --target browserstack; "
                       "use the local store (pytest --testreport=local,browserstack)")  # fmt: skip
