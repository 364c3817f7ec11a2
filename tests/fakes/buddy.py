"""Fake Buddy.works Unit Tests API: suite-token reporter endpoints and workspace (PAT) endpoints.

Configure ``BUDDY_API_URL`` = :attr:`FakeBuddy.url` (``http://127.0.0.1:PORT/``, trailing slash,
like ``https://api.buddy.works/``). Reference: ``../shared/reference/buddy.md``.

Choices where the docs are silent (documented here so targets and tests agree):
- cases sent to a closed (not reopened) session: 400 ``{"errors": [{"message": ...}]}``;
- close of a closed session: 200 again (idempotent; the close body is recorded, never honoured);
- a batch is validated as a whole: one invalid case rejects the batch (400, names the index);
  an empty batch is a 400; more than ``max_batch`` (1000) cases is a 400;
- strings must be valid UTF-8 without control characters (``\\t\\n\\r`` allowed): else 400;
- final session status: ``ERROR`` if any case FAILED or ERROR (there is no FAILED session
  status), ``SKIPPED`` if every case was skipped, else ``SUCCESSFUL`` (an empty session too);
- ``per_page`` above ``max_per_page`` (100) is clamped; lists carry no total (as documented);
  case lists return ``ShortTestCaseView`` (no ``data``); one case (with ``data``) via
  ``.../test-groups/{group}/cases/{case}``;
- ``POST unit-tests/import`` (JUnit upload) is not implemented (404).
"""

from __future__ import annotations

import re
import time
from typing import Any, Optional

from .base import FakeService, RecordedRequest, Reject, Reply, Route, json_body
from .buddy_model import (
    CASE_STATUSES,
    CI_PROVIDERS,
    REF_TYPES,
    SESSION_STRINGS,
    BuddyCase,
    BuddySession,
    new_id,
    now_iso,
    positive_param,
    text_field,
    validate_case,
)
from .checks import Fields


class FakeBuddy(FakeService):
    """Fake Buddy Unit Tests. State: :attr:`sessions` (id -> :class:`BuddySession`)."""

    def __init__(
        self,
        token: str = "bud_ut_us_FAKEsuiteTOKEN0000",
        *,
        workspace: str = "fake-workspace",
        project: str = "fake-project",
        suite: str = "MNbyVedg",
        pat: str = "fake-buddy-pat-0000",
        api_path: str = "/",
        max_batch: int = 1000,
        max_per_page: int = 100,
    ) -> None:
        super().__init__()
        self.token, self.pat = token, pat
        self.workspace, self.project, self.suite = workspace, project, suite
        self.prefix = "/" + api_path.strip("/") + "/" if api_path.strip("/") else "/"
        self.max_batch, self.max_per_page = max_batch, max_per_page
        self.sessions: dict[str, BuddySession] = {}
        base = re.escape(self.prefix.rstrip("/"))
        sess = base + r"/unit-tests/sessions"
        sid = r"/(?P<sid>[^/]+)"
        for method, path, handler in (
            ("POST", sess, self._create),
            ("PUT", sess + sid + "/cases", self._put_case),
            ("POST", sess + sid + "/cases/batch", self._batch),
            ("POST", sess + sid + "/close", self._close),
            ("POST", sess + sid + "/reopen", self._reopen),
        ):
            self.route(method, path, handler, auth="suite")
        ws = (
            base
            + r"/workspaces/(?P<ws>[^/]+)/projects/(?P<pr>[^/]+)/unit-tests/suites/(?P<su>[^/]+)"
        )
        wsess = ws + "/sessions"
        for method, path, handler in (
            ("GET", wsess, self._list_sessions),
            ("POST", wsess, self._create),
            ("GET", wsess + sid, self._get_session),
            ("GET", wsess + sid + "/cases", self._list_cases),
            ("PUT", wsess + sid + "/cases", self._put_case),
            ("POST", wsess + sid + "/close", self._close),
            ("POST", wsess + sid + "/reopen", self._reopen),
            ("GET", wsess + sid + "/test-groups", self._list_groups),
            (
                "GET",
                wsess + sid + r"/test-groups/(?P<gid>[^/]+)/cases/(?P<cid>[^/]+)",
                self._get_case,
            ),
        ):
            self.route(method, path, handler, auth="pat")
        self.start()

    # -- helpers for tests -------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment that points the plugin's Buddy target (and its CLI) at this fake."""
        return {
            "BUDDY_API_URL": self.url,
            "BUDDY_UT_TOKEN": self.token,
            "BUDDY_TOKEN": self.pat,
            "TESTREPORT_BUDDY_WORKSPACE": self.workspace,
            "TESTREPORT_BUDDY_PROJECT": self.project,
            "TESTREPORT_BUDDY_SUITE": self.suite,
        }

    @property
    def session(self) -> BuddySession:
        """The only session (AssertionError when there are none or several)."""
        assert len(self.sessions) == 1, f"expected one session, found {len(self.sessions)}"
        return next(iter(self.sessions.values()))

    @property
    def all_cases(self) -> list[BuddyCase]:
        """Every stored case of every session."""
        return [c for session in list(self.sessions.values()) for c in session.cases.values()]

    @property
    def case_writes(self) -> list[RecordedRequest]:
        """Accepted requests that wrote cases (batch or single upsert)."""
        return [r for r in self.accepted if r.method in ("PUT", "POST") and "/cases" in r.path]

    def add_session(self, **fields: Any) -> BuddySession:
        """Create a session directly (for read-side tests); ``fields`` as in AddSessionRequest."""
        with self.lock:
            return self._new_session(fields)

    # -- service behaviour -------------------------------------------------------------------------
    def authenticate(self, rec: RecordedRequest, route: Route) -> Optional[Reply]:
        expected = self.token if route.auth == "suite" else self.pat
        scheme, _, value = rec.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip() == expected:
            return None
        return Reply(401, self.unauthorized_body())

    def error_body(self, status: int, message: str) -> Any:
        return {"errors": [{"message": message}]}

    def response_headers(self, rec: RecordedRequest, reply: Reply) -> dict[str, str]:
        state = self.rate_state()
        if state is None:
            return {}
        return {"X-Rate-Limit-Limit": str(state[0]), "X-Rate-Limit-Remaining": str(state[1])}

    def _session(
        self, sid: str, ws: Optional[str] = None, pr: str = "", su: str = ""
    ) -> BuddySession:
        if ws is not None and (ws, pr, su) != (self.workspace, self.project, self.suite):
            raise Reject(404, "Not found")
        session = self.sessions.get(sid)
        if session is None:
            raise Reject(404, f"Test session {sid} not found")
        return session

    def _new_session(self, fields: dict[str, Any]) -> BuddySession:
        session = BuddySession(new_id(), len(self.sessions) + 1, dict(fields), time.monotonic())
        self.sessions[session.id] = session
        return session

    def _create(
        self, rec: RecordedRequest, ws: Optional[str] = None, pr: str = "", su: str = ""
    ) -> Reply:
        if ws is not None and (ws, pr, su) != (self.workspace, self.project, self.suite):
            raise Reject(404, "Not found")
        body = Fields(json_body(rec, empty={}))
        body.enum("ci_provider", CI_PROVIDERS)
        body.enum("ref_type", REF_TYPES)
        for key in SESSION_STRINGS:
            text_field(body, key)
        created_by = body.obj("created_by")
        if created_by is not None:
            created_by.get("id", required=True)
        return Reply(201, self._session_view(self._new_session(body.data)))

    def _put_case(
        self, rec: RecordedRequest, sid: str, ws: Optional[str] = None, **path: str
    ) -> Reply:
        session = self._writable(sid, ws, **path)
        case = self._upsert(session, validate_case(json_body(rec), ""))
        return Reply(201 if ws is None else 200, self._case_view(session, case, full=True))

    def _batch(self, rec: RecordedRequest, sid: str) -> Reply:
        session = self._writable(sid)
        body = Fields(json_body(rec))
        items = body.array("cases", required=True, min_items=1, max_items=self.max_batch)
        assert items is not None
        cases = [validate_case(item, f"cases[{i}]") for i, item in enumerate(items)]
        session.batch_sizes.append(len(cases))
        written = [self._upsert(session, case) for case in cases]
        view = self._session_urls(session)
        return Reply(
            201,
            {
                "url": view["url"],
                "html_url": view["html_url"],
                "cases": [self._case_view(session, c, full=False) for c in written],
            },
        )

    def _writable(self, sid: str, ws: Optional[str] = None, **path: str) -> BuddySession:
        session = self._session(sid, ws, **path)
        if session.closed:
            raise Reject(400, f"Test session {sid} is closed; reopen it before adding test cases")
        return session

    def _upsert(self, session: BuddySession, data: dict[str, Any]) -> BuddyCase:
        key = (data["test_group_name"], data["classname"], data["name"])
        group_id = session.groups.setdefault(data["test_group_name"], new_id())
        case = session.cases.get(key)
        if case is None:
            case = BuddyCase(new_id(), test_group_id=group_id, **data)
            session.cases[key] = case
        else:
            case.status, case.time, case.data = data["status"], data["time"], data["data"]
            case.versions += 1
            session.upserts += 1
        return case

    def _close(self, rec: RecordedRequest, sid: str, **path: str) -> Reply:
        session = self._session(sid, **path)
        body = json_body(rec, empty={})
        if not isinstance(body, dict):
            raise Reject(400, "body must be a JSON object")
        session.close_bodies.append(body)
        failed, errors = session.count("FAILED"), session.count("ERROR")
        if failed or errors:
            session.status = "ERROR"
            session.error_message = f"{failed} failed, {errors} errors"
        elif session.cases and session.count("SKIPPED") == len(session.cases):
            session.status, session.error_message = "SKIPPED", None
        else:
            session.status, session.error_message = "SUCCESSFUL", None
        session.finish_date = now_iso()
        session.duration = int(time.monotonic() - session.created)
        return Reply(200, self._session_view(session))

    def _reopen(self, rec: RecordedRequest, sid: str, **path: str) -> Reply:
        session = self._session(sid, **path)
        session.status, session.finish_date, session.error_message = "IN_PROGRESS", None, None
        session.reopen_count += 1
        return Reply(200, self._session_view(session))

    def _get_session(self, rec: RecordedRequest, sid: str, **path: str) -> Reply:
        return Reply(200, self._session_view(self._session(sid, **path)))

    def _list_sessions(self, rec: RecordedRequest, ws: str, pr: str, su: str) -> Reply:
        if (ws, pr, su) != (self.workspace, self.project, self.suite):
            raise Reject(404, "Not found")
        items = sorted(self.sessions.values(), key=lambda s: -s.relative_id)
        branch = rec.param("branch")
        if branch is not None:
            items = [s for s in items if s.fields.get("ref_name") == branch]
        views = [self._session_view(s) for s in self._page(rec, items)]
        return Reply(200, {**self._suite_urls(), "sessions": views})

    def _list_cases(self, rec: RecordedRequest, sid: str, **path: str) -> Reply:
        session = self._session(sid, **path)
        status = rec.param("status")
        if status is not None and status not in CASE_STATUSES:
            raise Reject(400, f"status must be one of {', '.join(CASE_STATUSES)}; got {status!r}")
        cases = [c for c in session.cases.values() if status is None or c.status == status]
        views = [self._case_view(session, c, full=False) for c in self._page(rec, cases)]
        urls = self._session_urls(session)
        return Reply(
            200, {"url": urls["url"] + "/cases", "html_url": urls["html_url"], "cases": views}
        )

    def _list_groups(self, rec: RecordedRequest, sid: str, **path: str) -> Reply:
        session = self._session(sid, **path)
        groups = []
        for name, gid in session.groups.items():
            cases = [c for c in session.cases.values() if c.test_group_name == name]
            counts = {s: sum(1 for c in cases if c.status == s) for s in CASE_STATUSES}
            status = next((s for s in ("ERROR", "FAILED") if counts[s]), None)
            if status is None:
                status = "SKIPPED" if counts["SKIPPED"] == len(cases) else "PASSED"
            groups.append(
                {
                    "url": f"{self._session_urls(session)['url']}/test-groups/{gid}",
                    "html_url": None,
                    "id": gid,
                    "name": name,
                    "status": status,
                    "tests_count": len(cases),
                    "failed_count": counts["FAILED"],
                    "skipped_count": counts["SKIPPED"],
                    "error_count": counts["ERROR"],
                    "time": sum(c.time for c in cases),
                }
            )
        return Reply(200, {**self._suite_urls(), "test_groups": groups})

    def _get_case(self, rec: RecordedRequest, sid: str, gid: str, cid: str, **path: str) -> Reply:
        session = self._session(sid, **path)
        for case in session.cases.values():
            if case.id == cid and case.test_group_id == gid:
                return Reply(200, self._case_view(session, case, full=True))
        raise Reject(404, f"Test case {cid} not found")

    # -- views -------------------------------------------------------------------------------------
    def _page(self, rec: RecordedRequest, items: list[Any]) -> list[Any]:
        page = positive_param(rec, "page", 1)
        per_page = min(positive_param(rec, "per_page", 20), self.max_per_page)
        return items[(page - 1) * per_page : page * per_page]

    def _suite_urls(self) -> dict[str, str]:
        path = f"workspaces/{self.workspace}/projects/{self.project}/unit-tests/suites/{self.suite}"
        return {
            "url": f"{self.url}{path}/sessions",
            "html_url": f"https://app.buddy.works/{self.workspace}/{self.project}/unit-tests/{self.suite}",
        }

    def _session_view(self, s: BuddySession) -> dict[str, Any]:
        urls = self._suite_urls()
        created_by = s.fields.get("created_by")
        return {
            "url": f"{urls['url']}/{s.id}",
            "html_url": f"{urls['html_url']}/{s.id}",
            "id": s.id,
            "relative_id": s.relative_id,
            "create_date": s.create_date,
            "start_date": s.create_date,
            "finish_date": s.finish_date,
            "created_by": {"id": created_by["id"], "name": "Fake Member"} if created_by else None,
            **{k: s.fields.get(k) for k in ("ci_provider", "ref_type", *SESSION_STRINGS)},
            "status": s.status,
            "error_message": s.error_message,
            "duration": s.duration,
            "tests_count": len(s.cases),
            "failed_count": s.count("FAILED"),
            "skipped_count": s.count("SKIPPED"),
            "error_count": s.count("ERROR"),
        }

    def _session_urls(self, s: BuddySession) -> dict[str, str]:
        urls = self._suite_urls()
        return {"url": f"{urls['url']}/{s.id}", "html_url": f"{urls['html_url']}/{s.id}"}

    def _case_view(self, s: BuddySession, c: BuddyCase, full: bool) -> dict[str, Any]:
        urls = self._session_urls(s)
        view = {
            "url": f"{urls['url']}/test-groups/{c.test_group_id}/cases/{c.id}",
            "html_url": f"{urls['html_url']}/cases/{c.id}",
            "id": c.id,
            "name": c.name,
            "test_group_name": c.test_group_name,
            "test_group_id": c.test_group_id,
            "classname": c.classname,
            "status": c.status,
            "time": c.time,
        }
        if full:
            view["data"] = c.data
        return view
