"""Reading Buddy sessions back with a personal access token (the workspace endpoints).

``list``/``show``/``failed``/``flaky``/``slow --target buddy`` and
``--testreport-failed-from=buddy[:SESSION]``. Buddy's lists carry no total and no next link:
pages are read until a short or empty one. Answers are mapped to the CLI's JSON shapes
(``reading.py``); what Buddy lacks is null. Buddy keeps one case per test (its final attempt);
earlier attempts are read from the ``data`` fragment of failed and errored cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from math import gcd
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar
from urllib.parse import quote

from ...config import Settings, usage_error
from ...engine.errors import DeliveryError, RejectedError
from ...engine.limits import Deadline
from ...reading import (
    FAILED_FROM_DEADLINE,
    LATEST,
    FailedTests,
    Json,
    NotFound,
    Reader,
    failure_object,
    flaky_object,
    not_found,
    result_object,
    session_object,
    slow_object,
    sort_flaky,
)
from . import SPEC
from .answers import CaseView, SessionView, case_view, session_view
from .client import pat_client
from .junit import CI_PROVIDERS, nodeid_from_case, parse_data

if TYPE_CHECKING:
    from ...engine.http import HttpClient

PAGE = 100  # items asked per page when reading everything
MAX_DETAILS = 200  # cases whose data (failure text) one command fetches, one request each
MAX_SESSIONS_SCANNED = 500
SESSION_STATUS = {
    "IN_PROGRESS": "in_progress",
    "SUCCESSFUL": "successful",
    "ERROR": "error",
    "SKIPPED": "successful",
}
PROVIDER = {buddy: ours for ours, buddy in CI_PROVIDERS.items()}  # Buddy's names -> ours
OUTCOME = {"PASSED": "passed", "FAILED": "failed", "SKIPPED": "skipped", "ERROR": "error"}
_REFINED = frozenset({("SKIPPED", "xfailed"), ("PASSED", "xpassed")})
T = TypeVar("T")


def session_view_object(view: SessionView) -> Json:
    """A ``TestSessionView`` as the CLI's session object (plus Buddy's own keys)."""
    tests, failed, skipped, error = (
        count or 0
        for count in (view.tests_count, view.failed_count, view.skipped_count, view.error_count)
    )
    obj = session_object(
        id=view.id,
        uuid=None,  # type: ignore[arg-type]  # Buddy has no uuid of ours
        status=SESSION_STATUS.get(view.status or "", str(view.status).lower()),
        error_message=view.error_message,
        branch=view.ref_name if view.ref_type != "TAG" else None,
        revision=view.revision,
        started_at=view.start_date or view.create_date,
        finished_at=view.finish_date,
        counts=(tests, max(tests - failed - skipped - error, 0), failed, skipped, error),
        ci_provider=PROVIDER.get(view.ci_provider or ""),
        run_url=view.ci_run_url,
    )
    obj.update(relative_id=view.relative_id, html_url=view.html_url, service_status=view.status)
    return obj


def case_nodeid(case: CaseView, detail: Optional[Json] = None) -> Optional[str]:
    group, classname, name = (
        str(value or "") for value in (case.test_group_name, case.classname, case.name)
    )
    return (detail or {}).get("nodeid") or nodeid_from_case(group, classname, name)


def case_rows(case: CaseView, detail: Json) -> list[Json]:
    """The test objects of one case: earlier attempts read from its data, then the final one."""
    group, name = str(case.test_group_name or ""), str(case.name or "")
    nodeid = case_nodeid(case, detail) or f"{group}::{case.classname}::{name}"
    outcome = OUTCOME.get(case.status or "", "error")
    if (case.status, detail.get("outcome")) in _REFINED:
        outcome = detail["outcome"]  # what Buddy's four statuses cannot tell apart
    kind = detail.get("kind") or ("collection_error" if nodeid == group else "test")
    common = {
        "nodeid": nodeid,
        "name": name,
        "path": group,
        "line": detail.get("line"),
        "kind": kind,
        "worker": None,
        "started_at": None,
        "finished_at": None,
        "steps": [],
    }
    rows = [
        result_object(
            **common,
            outcome=e["outcome"],
            reason=None,
            duration=0.0,
            attempt=e["attempt"],
            final=False,
            metadata=[],
            tags=[],
            failure=failure_object(e["message"], "call", e["traceback"]),
        )
        for e in detail.get("earlier", ())
    ]
    failure = detail.get("failure")
    rows.append(
        result_object(
            **common,
            outcome=outcome,
            reason=detail.get("reason"),
            duration=float(case.time or 0.0),
            attempt=detail.get("attempts") or 1,
            final=True,
            failure=failure_object(failure["message"], failure["phase"], failure["traceback"])
            if failure
            else None,
            metadata=detail.get("metadata", []),
            tags=detail.get("tags", []),
        )
    )
    return rows


class BuddyReader(Reader):
    """One suite's sessions and cases, read with a personal access token."""

    def __init__(self, http: HttpClient, workspace: str, project: str, suite: str) -> None:
        self.http = http
        self.suite = f"{workspace}/{project}/{suite}"
        self.base = (
            f"workspaces/{quote(workspace, safe='')}/projects/{quote(project, safe='')}"
            f"/unit-tests/suites/{quote(suite, safe='')}"
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> BuddyReader:
        names = {
            key: getattr(settings.options_of(SPEC), f"buddy_{key}")
            for key in ("workspace", "project", "suite")
        }
        missing = [f"TESTREPORT_BUDDY_{key.upper()}" for key, value in names.items() if not value]
        if missing:
            raise usage_error(
                f"testreport: reading Buddy needs {', '.join(missing)} (and BUDDY_TOKEN)"
            )
        return cls(pat_client(settings), *(str(v) for v in names.values()))

    @classmethod
    def failed_from(cls, settings: Settings, ref: Optional[str]) -> FailedTests:
        return failed_nodeids(settings, ref)

    def describe(self) -> str:
        return f"Buddy suite {self.suite} ({self.http.base_url})"

    def close(self) -> None:
        self.http.close()

    # -- HTTP ---------------------------------------------------------------------------------
    def _get(self, path: str, params: Optional[dict[str, Any]] = None) -> Json:
        body = self.http.request("GET", f"{self.base}/{path}", params=params)
        try:
            data = body.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _pages(self, path: str, key: str, params: dict[str, Any],
               parse: Callable[[Any], T]) -> Iterator[T]:  # fmt: skip
        """Every item, page by page, until a short or empty page.

        The maximum ``per_page`` is undocumented: a first page shorter than asked may be the
        server's own page size, so one more page (of that size) tells the two apart.
        """
        page, size, learned = 1, PAGE, False
        while True:
            items = self._get(path, {**params, "page": page, "per_page": size}).get(key) or []
            yield from (parse(item) for item in items)
            if not items:
                return
            if len(items) < size:
                if learned or page > 1:
                    return
                size, learned = len(items), True
            page += 1

    def _session_views(self, branch: Optional[str]) -> Iterator[SessionView]:
        params = {"branch": branch} if branch else {}
        return self._pages("sessions", "sessions", params, session_view)

    def _cases(self, session_id: str, status: Optional[str] = None) -> Iterator[CaseView]:
        params = {"status": status} if status else {}
        path = f"sessions/{quote(session_id, safe='')}/cases"
        return self._pages(path, "cases", params, case_view)

    def _sessions_page(self, params: dict[str, Any]) -> list[SessionView]:
        return [session_view(view) for view in self._get("sessions", params).get("sessions") or []]

    def _detail(self, session_id: str, case: CaseView) -> Json:
        group, case_id = case.test_group_id, case.id
        if not group or not case_id:
            return {}
        path = (
            f"sessions/{quote(session_id, safe='')}/test-groups/{quote(str(group), safe='')}"
            f"/cases/{quote(str(case_id), safe='')}"
        )
        try:
            return parse_data(case_view(self._get(path)).data)
        except RejectedError as exc:
            if exc.status == 404:
                return {}
            raise

    def _view(self, ref: str, branch: Optional[str]) -> SessionView:
        if ref == LATEST:
            params = {"page": 1, "per_page": 20, **({"branch": branch} if branch else {})}
            views = self._sessions_page(params)
            if not views:
                raise not_found(ref, branch, self.describe())
            return max(views, key=lambda v: v.relative_id or 0)
        try:
            view = session_view(self._get(f"sessions/{quote(ref, safe='')}"))
        except RejectedError as exc:
            if exc.status == 404:
                raise not_found(ref, branch, self.describe()) from None
            raise
        if branch and view.ref_name != branch:
            raise not_found(ref, branch, self.describe())
        return view

    def latest_closed(self, branch: Optional[str]) -> Optional[SessionView]:
        """The newest session that is no longer in progress (on ``branch``), if any."""
        scanned = islice(self._session_views(branch), MAX_SESSIONS_SCANNED)
        closed = [v for v in scanned if v.status != "IN_PROGRESS"]
        return max(closed, key=lambda v: v.relative_id or 0, default=None)

    # -- the Reader interface -------------------------------------------------------------
    def list_sessions(self, branch: Optional[str], page: int, per_page: int) -> list[Json]:
        params = {"branch": branch} if branch else {}
        # A page beyond PAGE items is read as several smaller pages that align with it.
        step = per_page if per_page <= PAGE else gcd(per_page, PAGE)
        first = (page - 1) * per_page // step + 1
        views: list[SessionView] = []
        for number in range(first, first + per_page // step):
            items = self._sessions_page({**params, "page": number, "per_page": step})
            views.extend(items)
            if len(items) < step:
                break
        return [session_view_object(v) for v in views]

    def session(self, ref: str, branch: Optional[str]) -> Json:
        return session_view_object(self._view(ref, branch))

    def get_session(self, ref: str, branch: Optional[str]) -> Json:
        view = self._view(ref, branch)
        obj, budget, tests = session_view_object(view), MAX_DETAILS, []
        for case in self._cases(view.id):
            detail: Json = {}
            if case.status in ("FAILED", "ERROR") and budget > 0:
                detail, budget = self._detail(view.id, case), budget - 1
            tests.extend(case_rows(case, detail))
        obj["tests"] = tests
        return obj

    def failed(self, ref: str, branch: Optional[str]) -> list[Json]:
        view = self._view(ref, branch)
        budget, out = MAX_DETAILS, []
        for status in ("FAILED", "ERROR"):
            for case in self._cases(view.id, status):
                detail = self._detail(view.id, case) if budget > 0 else {}
                budget -= 1
                out.append(case_rows(case, detail)[-1])
        return out

    def failed_nodeids(self, view: SessionView) -> list[str]:
        """Node ids of a session's failed and errored cases (data read only when needed)."""
        found: dict[str, None] = {}
        for status in ("FAILED", "ERROR"):
            for case in self._cases(view.id, status):
                nodeid = case_nodeid(case) or case_nodeid(case, self._detail(view.id, case))
                if nodeid:
                    found[nodeid] = None
        return list(found)

    def _history(self, last: int, branch: Optional[str]) -> list[tuple[str, str, str, float]]:
        """(session id, node id, outcome, time) of every case of the last sessions, oldest first."""
        views = sorted(islice(self._session_views(branch), last), key=lambda v: v.relative_id or 0)
        rows = []
        for view in views:
            for case in self._cases(view.id):
                nodeid = case_nodeid(case) or f"{case.test_group_name}::{case.name}"
                rows.append(
                    (view.id, nodeid, OUTCOME.get(case.status or "", ""), float(case.time or 0.0))
                )
        return rows

    def flaky(self, last: int, min_flips: int, branch: Optional[str]) -> list[Json]:
        outcomes: dict[str, list[str]] = {}
        sessions: dict[str, set[str]] = {}
        for session_id, nodeid, outcome, _time in self._history(last, branch):
            if outcome in ("passed", "failed", "error"):
                outcomes.setdefault(nodeid, []).append(outcome)
                sessions.setdefault(nodeid, set()).add(session_id)
        rows = [flaky_object(n, o, len(sessions[n])) for n, o in outcomes.items()]
        return sort_flaky(r for r in rows if r["flips"] >= min_flips)

    def slow(self, top: int, last: int, branch: Optional[str]) -> list[Json]:
        durations: dict[str, list[float]] = {}
        for _session, nodeid, _outcome, seconds in self._history(last, branch):
            durations.setdefault(nodeid, []).append(seconds)
        rows = [slow_object(n, d) for n, d in durations.items()]
        return sorted(rows, key=lambda r: (-r["median_duration"], r["nodeid"]))[:top]


def failed_nodeids(settings: Settings, ref: Optional[str]) -> FailedTests:
    """For ``--testreport-failed-from=buddy[:SESSION]``: (what to tell the user, node ids).

    A service that cannot be read gives no node ids (the caller runs everything) and says so,
    as for Buildkite: a rerun that cannot learn what failed must not skip tests.
    """
    try:
        described, nodeids = failed_session(settings, ref)
    except DeliveryError as exc:
        return FailedTests(f"testreport: cannot read Buddy ({exc}); running all tests")
    if described is None:
        return FailedTests("testreport: no earlier closed buddy session; running all tests")
    if not nodeids:
        return FailedTests(f"testreport: nothing failed in {described}; running all tests")
    return FailedTests(
        f"testreport: running the {len(nodeids)} tests that failed or errored in {described}",
        nodeids,
    )


def failed_session(settings: Settings, ref: Optional[str]) -> tuple[Optional[str], list[str]]:
    """(which session, its failed node ids) for ``failed_nodeids``.

    Without ``ref``: the newest closed session on the current branch. ``(None, [])`` when the
    suite has no such session yet. Raises ``pytest.UsageError`` for a wrong configuration, a
    rejected token or an unknown session; ``DeliveryError`` when Buddy cannot be read.
    """
    spec = f"buddy:{ref}" if ref else "buddy"
    reader = BuddyReader.from_settings(settings)
    deadline = Deadline()  # pytest's start-up waits for this: never for long
    deadline.set(FAILED_FROM_DEADLINE)
    reader.http.bind(deadline)
    branch = None
    try:
        if ref:
            view = reader._view(ref, None)
        else:
            branch = settings.ci().branch
            found = reader.latest_closed(branch)
            if found is None:
                return None, []
            view = found
        nodeids = reader.failed_nodeids(view)
    except NotFound as exc:
        raise usage_error(f"testreport: --testreport-failed-from={spec}: {exc}") from None
    except RejectedError as exc:
        if not exc.is_auth:
            raise
        raise usage_error(f"testreport: --testreport-failed-from={spec}: {exc}") from None
    finally:
        reader.close()
    number = f" (#{view.relative_id})" if view.relative_id else ""
    on_branch = f" on branch {branch}" if branch else ""
    return f"buddy session {view.id}{number}{on_branch}", nodeids
