"""Reading Buildkite Test Engine back: the CLI's ``--target buildkite`` and ``failed-from``.

REST API (reference §2): runs, one run, a run's failed executions, tests labelled flaky; every
list follows the ``Link`` header, and the ``RateLimit-*`` headers are honoured by waiting (a CLI
may wait; the plugin itself never reads during a run). Node ids are rebuilt from what we sent:
``scope`` is the node id without its last part, which the API returns as ``test_name`` =
``"{scope} {name}"`` next to ``location`` = ``file_name:line``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union
from urllib.parse import quote

from ...answers import UnexpectedAnswer
from ...config import Settings, usage_error
from ...engine.errors import DeliveryError, RejectedError
from ...engine.limits import Deadline
from ...engine.secrets import Secret
from ...reading import (
    FAILED_FROM_DEADLINE,
    LATEST,
    FailedTests,
    Json,
    NotFound,
    Reader,
    Unsupported,
    failure_object,
    not_found,
    page_of,
    result_object,
    session_object,
)
from ..remote import make_client, read_secret
from . import SPEC, answers
from .answers import FailedExecution, Run, SuiteTest
from .target import read_overrides, run_branch

if TYPE_CHECKING:
    import requests

PER_PAGE = 100  # the API's maximum
MAX_PAGES = 10_000  # a guard against a Link header that never ends
REST_RATE = (200, 60.0)  # documented organization limit per minute
MAX_WAIT = 65.0
_SCOPE_TAIL = re.compile(r"((?:::[^\s:]+)*) (.+)", re.DOTALL)
_SCOPE = re.compile(r"(.+?\.py(?:::[^\s:]+)*) (.+)", re.DOTALL)
_NO_COUNTS = (None, None, None, None, None)  # the runs API has no counts
T = TypeVar("T")


def run_session(run: Union[Run, Json]) -> Json:
    """A run as a session object; the API has no counts or finish time (null)."""
    if not isinstance(run, Run):
        run = answers.run(run)
    state, result = run.state, run.result
    if result == "failed":
        status, message = "error", "failed"
    elif result == "stale":
        status, message = "error", "stale: no results arrived"
    elif state == "finished" and result == "passed":
        status, message = "successful", None
    else:
        status, message = "in_progress", None
    obj = session_object(
        id=run.id, uuid=run.id or "", status=status, error_message=message, branch=run.branch,
        revision=run.commit_sha, started_at=run.created_at, finished_at=None,
        counts=_NO_COUNTS,  # type: ignore[arg-type]
        ci_provider=None, run_url=run.web_url or run.url or None,
    )  # fmt: skip
    return {**obj, "state": state, "result": result}


class Paths:
    """Turns what the API returns (``file_name`` paths, ``test_name``) back into node ids."""

    def __init__(self, rootdir: str, cwd: str, prefix: Optional[str]) -> None:
        self.rootdir, self.cwd = rootdir, cwd
        self.prefix = prefix.strip("/") + "/" if prefix else ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Paths:
        prefix = read_overrides(settings.env).get("location_prefix")
        return cls(str(settings.rootdir), os.getcwd(), prefix)

    def rootdir_path(self, file_name: str) -> str:
        """A ``file_name`` we sent (working-directory relative), rootdir-relative again."""
        if self.prefix and file_name.startswith(self.prefix):
            file_name = file_name[len(self.prefix) :]
        try:
            path = os.path.relpath(os.path.join(self.cwd, file_name), self.rootdir)
        except ValueError:
            return file_name
        return path.replace(os.sep, "/")

    def split_location(self, location: Optional[str]) -> tuple[Optional[str], Optional[int]]:
        if not location:
            return None, None
        path, sep, line = location.rpartition(":")
        if sep and line.isdigit():
            return self.rootdir_path(path), int(line)
        return self.rootdir_path(location), None

    def nodeid(self, test_name: Optional[str], location: Optional[str], collection_error: bool
               ) -> tuple[Optional[str], Optional[str], Optional[int]]:  # fmt: skip
        """``(nodeid, path, line)``; nodeid is None when it cannot be rebuilt."""
        path, line = self.split_location(location)
        name = test_name or ""
        if collection_error:
            return path or name.split(" ")[0] or None, path, line
        if path and name.startswith(path):
            match = _SCOPE_TAIL.fullmatch(name[len(path) :])
            if match:
                return f"{path}{match.group(1)}::{match.group(2)}", path, line
        match = _SCOPE.fullmatch(name)
        if match:  # the location did not help (moved files, another layout): the name alone
            return (
                f"{match.group(1)}::{match.group(2)}",
                path or match.group(1).split("::")[0],
                line,
            )
        return None, path, line


def _tag(tags: dict[str, str], key: str) -> Optional[str]:
    return tags.get(key)


def execution_object(item: FailedExecution, paths: Paths) -> Json:
    """A failed execution as a test object; ``nodeid`` falls back to ``test_name``."""
    tags = item.tags
    collection_error = _tag(tags, "test.pytest_collection_error") == "true"
    crashed = _tag(tags, "pytest.outcome") == "crashed"
    phase = _tag(tags, "test.phase")
    nodeid, path, line = paths.nodeid(item.test_name, item.location, collection_error)
    error = collection_error or crashed or bool(phase) or _tag(tags, "pytest.outcome") == "error"
    attempt = _tag(tags, "test.attempt") or "1"
    shown = nodeid or item.test_name or ""
    obj = result_object(
        nodeid=shown,
        name=shown.rsplit("::", 1)[-1],
        path=path or shown.split("::")[0],
        line=line,
        kind="collection_error" if collection_error else "crash" if crashed else "test",
        outcome="error" if error else "failed",
        reason=None,
        duration=float(item.duration or 0.0),
        attempt=int(attempt) if attempt.isdigit() else 1,
        final=_tag(tags, "pytest.rerun") != "true",
        worker=None,
        started_at=item.created_at,
        finished_at=None,
        failure=failure_object(
            item.failure_reason or "",
            "collect" if collection_error else "crash" if crashed else phase or "call",
            [],
        ),
        steps=[],
        metadata=[],
        tags=[f"{k}={v}" for k, v in sorted(tags.items())],
    )
    extra = ("execution_id", "test_id", "test_name", "test_url", "test_execution_url")
    return {**obj, "mapped": nodeid is not None, **{k: getattr(item, k) for k in extra}}


class BuildkiteReader(Reader):
    """The suite's runs through the REST API (a user token with ``read_suites``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> BuildkiteReader:
        return cls(settings)

    @classmethod
    def failed_from(cls, settings: Settings, ref: Optional[str]) -> FailedTests:
        return failed_nodeids(settings, ref)

    def __init__(self, settings: Settings) -> None:
        token = read_secret(settings, "buildkite_api_token")
        options = settings.options_of(SPEC)
        missing = [
            spelled
            for value, spelled in (
                (token, "BUILDKITE_API_TOKEN (a user API token with the read_suites scope)"),
                (options.buildkite_org, "TESTREPORT_BUILDKITE_ORG"),
                (options.buildkite_suite, "TESTREPORT_BUILDKITE_SUITE"),
            )
            if not value
        ]
        if missing:
            raise usage_error(
                f"testreport: reading from Buildkite needs {', '.join(missing)} "
                "(or the ini keys testreport_buildkite_org / testreport_buildkite_suite)"
            )
        self.org, self.suite = options.buildkite_org, options.buildkite_suite
        base = (f"{options.buildkite_rest_url}/analytics/organizations/"
                f"{quote(self.org, safe='')}/suites/{quote(self.suite, safe='')}/")  # fmt: skip
        self.http = make_client(
            settings,
            "buildkite",
            base,
            {"Authorization": Secret(f"Bearer {token.reveal()}")},
            auth_hint="check BUILDKITE_API_TOKEN: a user API token with the read_suites scope",
            default_rate=REST_RATE,
        )
        self.paths = Paths.from_settings(settings)
        self._resume_at = 0.0

    def describe(self) -> str:
        return f"Buildkite suite {self.org}/{self.suite}"

    def close(self) -> None:
        self.http.close()

    # -- HTTP --------------------------------------------------------------------------------
    def _get(self, path: str, params: Optional[dict[str, Any]] = None) -> requests.Response:
        wait = self._resume_at - time.monotonic()
        if wait > 0:  # a window was used up: wait for it rather than earn a 429
            self.http.deadline.sleep(wait, "the Buildkite REST rate limit")
        response = self.http.request("GET", path, params=params)
        self._note_limits(response)
        return response

    def _note_limits(self, response: requests.Response) -> None:
        resets = []
        for scope in ("RateLimit", "RateLimit-User"):
            remaining = response.headers.get(f"{scope}-Remaining")
            if remaining is not None and remaining.strip() == "0":
                try:
                    resets.append(float(response.headers.get(f"{scope}-Reset") or 1.0))
                except ValueError:
                    resets.append(1.0)
        if resets:
            self._resume_at = time.monotonic() + min(max(resets), MAX_WAIT)

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _pages(self, path: str, parse: Callable[[Any], T],
               params: Optional[dict[str, Any]] = None) -> Iterator[T]:  # fmt: skip
        """Every item of a paginated list, following ``rel="next"``, parsed by ``parse``."""
        url: Optional[str] = path
        query: Optional[dict[str, Any]] = {**(params or {}), "per_page": PER_PAGE}
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._get(url, query)
            body = self._json(response)
            if body is not None and not isinstance(body, list):
                raise UnexpectedAnswer(f"Buildkite answered an unexpected page of {path}: "
                                       f"a JSON {type(body).__name__}, not a list")  # fmt: skip
            yield from (parse(item) for item in body or ())
            url = response.links.get("next", {}).get("url")
            if url in seen:
                return
            seen.add(url or "")
            query = None  # the next link carries the query

    # -- runs --------------------------------------------------------------------------------
    def _runs(self, branch: Optional[str]) -> Iterator[Run]:
        for run in self._pages("runs", answers.run):
            if branch is None or run.branch == branch:
                yield run

    def run(self, ref: str, branch: Optional[str]) -> Run:
        """The run ``ref`` names (``latest``: the newest, on ``branch`` when given)."""
        run: Optional[Run]
        if ref == LATEST:
            run = next(self._runs(branch), None)
        else:
            try:
                data = self._json(self._get(f"runs/{quote(ref, safe='')}"))
            except RejectedError as exc:
                if exc.status != 404:
                    raise
                data = None
            run = None if data is None else answers.run(data)
            if run is not None and branch is not None and run.branch != branch:
                run = None
        if run is None or not run.id:
            raise not_found(ref, branch, self.describe())
        return run

    def latest_finished(self, branch: Optional[str]) -> Optional[Run]:
        return next((r for r in self._runs(branch) if r.state == "finished"), None)

    def executions(self, run_id: str) -> list[Json]:
        """Every failed execution of a run (all pages), as test objects."""
        path = f"runs/{quote(run_id, safe='')}/failed_executions"
        items = self._pages(path, answers.failed_execution)
        return [execution_object(item, self.paths) for item in items]

    # -- the Reader interface ----------------------------------------------------------------
    def list_sessions(self, branch: Optional[str], page: int, per_page: int) -> list[Json]:
        return [run_session(run) for run in page_of(self._runs(branch), page, per_page)]

    def session(self, ref: str, branch: Optional[str]) -> Json:
        return run_session(self.run(ref, branch))

    def get_session(self, ref: str, branch: Optional[str]) -> Json:
        """The run and its failed executions (the API lists no passed or skipped ones)."""
        run = self.run(ref, branch)
        return {**run_session(run), "tests": self.executions(run.id)}

    def failed(self, ref: str, branch: Optional[str]) -> list[Json]:
        """Failed executions of final attempts (earlier rerun attempts are tagged)."""
        run = self.run(ref, branch)
        return [t for t in self.executions(run.id) if t["final"]]

    def flaky(self, last: int, min_flips: int, branch: Optional[str]) -> list[Json]:
        """The suite's tests labelled ``flaky`` by Buildkite (its own detection: no flips)."""
        params = {"label": "flaky", **({"branch": branch} if branch else {})}
        rows = []
        test: SuiteTest
        for test in self._pages("tests", answers.suite_test, params):
            scope, name = test.scope or "", test.name or ""
            rows.append(
                {
                    "nodeid": f"{scope}::{name}" if scope else name,
                    "flips": None,
                    "sessions": None,
                    "outcomes": [],
                    "scope": scope,
                    "name": name,
                    "location": test.location,
                    "labels": test.labels,
                    "web_url": test.web_url,
                }
            )
        return sorted(rows, key=lambda r: r["nodeid"])

    def slow(self, top: int, last: int, branch: Optional[str]) -> list[Json]:
        raise Unsupported(
            "slow is not available with --target buildkite (the REST API has no execution "
            "durations per run); see the suite's Tests page sorted by duration"
        )


def current_branch(settings: Settings) -> Optional[str]:
    """The branch this run would be filed under (same rules as the upload's run_env)."""
    return run_branch(settings.ci(), read_overrides(settings.env))


def failed_nodeids(settings: Settings, ref: Optional[str]) -> FailedTests:
    """For ``--testreport-failed-from=buildkite[:RUN]`` (``BuildkiteReader.failed_from``).

    Default run: the latest finished run on the current branch. No run, nothing failed or
    nothing mappable gives no node ids: the caller then runs everything, as ``--lf`` does.
    """
    spec = f"buildkite:{ref}" if ref else "buildkite"
    try:
        with BuildkiteReader(settings) as reader:
            deadline = Deadline()
            deadline.set(FAILED_FROM_DEADLINE)
            reader.http.bind(deadline)
            if ref:
                run = reader.run(ref, None)
            else:
                branch = current_branch(settings)
                found = reader.latest_finished(branch)
                if found is None:
                    where = f" on branch {branch}" if branch else ""
                    return FailedTests(
                        f"testreport: no finished Buildkite run{where}; running all tests"
                    )
                run = found
            tests = [t for t in reader.executions(run.id) if t["final"]]
    except NotFound as exc:
        raise usage_error(f"testreport: --testreport-failed-from={spec}: {exc}") from None
    except DeliveryError as exc:  # a rejected token is a usage error; the rest runs everything
        if isinstance(exc, RejectedError) and exc.is_auth:
            raise usage_error(f"testreport: --testreport-failed-from={spec}: {exc}") from None
        return FailedTests(f"testreport: cannot read Buildkite ({exc}); running all tests")
    nodeids = list(dict.fromkeys(t["nodeid"] for t in tests if t["mapped"]))
    unmapped = len({t["nodeid"] for t in tests if not t["mapped"]})
    where = f"Buildkite run {run.id}"
    if not tests:
        return FailedTests(f"testreport: nothing failed in {where}; running all tests")
    if not nodeids:
        return FailedTests(f"testreport: none of the {unmapped} failed tests of {where} could "
                           "be mapped to node ids; running all tests", [], unmapped)  # fmt: skip
    message = f"testreport: running the {len(nodeids)} tests that failed or errored in {where}"
    if unmapped:
        message += f"; {unmapped} could not be mapped to node ids"
    return FailedTests(message, nodeids, unmapped)


__all__ = ["BuildkiteReader", "Paths", "current_branch", "failed_nodeids"]
