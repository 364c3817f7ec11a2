"""Fake BrowserStack Test Reporting & Analytics public API (``/ext/v1``).

Configure ``TESTREPORT_BROWSERSTACK_API_URL`` = :attr:`FakeBrowserStack.url`
(``http://127.0.0.1:PORT/ext/v1``). Reference: ``../shared/reference/browserstack.md``.

Choices where the docs are silent:
- every limit over is a 400 ``{"success": false, "message": "<field> ..."}`` (no truncation);
- events for a finished build (test/hook start or finish, logs) are refused with 400 and kept in
  ``build.late``; a repeated ``builds/{id}/finish`` is 200 again (``finish_count`` counts it);
- a repeated test/hook finish is 200 (PUT; the last body wins, ``finish_count`` counts it);
- a build finished while runs are still open is accepted; their uuids go to ``open_at_finish``;
- a hook start naming an unknown ``test_run_id``, a test finish listing an unknown hook uuid and a
  log entry naming an unknown run are 400s;
- the rate limit (default 1600 requests / 300 s, like the published one) answers 429 with no
  ``Retry-After`` (none is documented); call :meth:`rate_limit` to change it;
- the JUnit XML upload (``POST /upload`` on the same origin) is ``browserstack_upload``'s;
  accepted uploads are kept in :attr:`uploads`;
- read endpoints page with an opaque ``next_page`` cursor in ``pagination`` and
  ``page_size`` items per page (default 30); list keys: ``projects``, ``builds``, ``test_runs``;
- ``runs_shape="hierarchy"`` answers ``builds/{id}/testRuns`` the way answers seen from the real
  service look (reference §13): the runs under ``hierarchy`` beside the build's ``name``,
  ``build_id``, ``build_name``, ``build_number``, ``project_id``, ``test_summary``,
  ``is_archived`` and ``pagination``, and without ``custom_metadata`` (not documented as read
  back).
"""

from __future__ import annotations

import base64
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from . import browserstack_rules as rules
from .base import FakeService, RecordedRequest, Reject, Reply, Route, json_body
from .browserstack_upload import UPLOAD_LIMIT, BsUpload, accept_upload, upload_reply

_ID_CHARS = string.ascii_lowercase + string.digits


@dataclass
class BsRun:
    """A test run or a hook run."""

    uuid: str
    kind: str  # "test" or "hook"
    start: dict[str, Any]
    started: float  # monotonic, when the start was accepted
    finish: Optional[dict[str, Any]] = None
    finished: Optional[float] = None  # monotonic, first accepted finish
    finish_count: int = 0
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.start["name"]

    @property
    def result(self) -> Optional[str]:
        return self.finish["result"] if self.finish else None


@dataclass
class BsBuild:
    id: str
    start: dict[str, Any]
    project_id: int
    started: float
    tags: list[str] = field(default_factory=list)
    tests: dict[str, BsRun] = field(default_factory=dict)
    hooks: dict[str, BsRun] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    finished_at: Optional[str] = None  # the finish call's ``finished_at``
    finished: Optional[float] = None  # monotonic
    finish_count: int = 0
    open_at_finish: list[str] = field(default_factory=list)
    late: list[RecordedRequest] = field(default_factory=list)

    def results(self) -> dict[str, int]:
        counts = dict.fromkeys((*rules.RESULTS, "pending"), 0)
        for run in self.tests.values():
            counts[run.result or "pending"] += 1
        return counts


@dataclass
class BsEvent:
    time: float
    kind: str  # build_start, test_start, test_finish, hook_start, hook_finish, logs, build_finish
    build_id: str
    uuid: Optional[str] = None


class FakeBrowserStack(FakeService):
    """Fake BrowserStack. State: :attr:`builds` (id -> :class:`BsBuild`), :attr:`events`."""

    prefix = "/ext/v1"

    def __init__(
        self,
        username: str = "fake-bs-user",
        access_key: str = "fake-bs-access-key",
        rate_limit: Optional[tuple[int, float]] = (1600, 300),
        page_size: int = 30,
        runs_shape: str = "test_runs",
    ) -> None:
        super().__init__()
        if runs_shape not in ("test_runs", "hierarchy"):
            raise ValueError(f"unknown runs_shape {runs_shape!r}")
        self.username, self.access_key = username, access_key
        self.page_size = page_size
        self.runs_shape = runs_shape
        self.builds: dict[str, BsBuild] = {}
        self.events: list[BsEvent] = []
        self.projects: dict[str, int] = {}  # project name -> id
        self._cursors: dict[str, int] = {}
        self.uploads: list[BsUpload] = []
        self.upload_limit = UPLOAD_LIMIT
        if rate_limit is not None:
            self.rate_limit(*rate_limit)
        b = r"/ext/v1/builds/(?P<bid>[^/]+)"
        for method, path, handler in (
            ("POST", r"/ext/v1/builds/start", self._build_start),
            ("PUT", b + "/finish", self._build_finish),
            ("PATCH", b, self._build_patch),
            ("POST", b + "/tests/start", self._test_start),
            ("PUT", b + r"/tests/(?P<rid>[^/]+)/finish", self._test_finish),
            ("POST", b + "/hooks/start", self._hook_start),
            ("PUT", b + r"/hooks/(?P<rid>[^/]+)/finish", self._hook_finish),
            ("POST", b + "/logs", self._logs),
            ("GET", r"/ext/v1/projects", self._list_projects),
            ("GET", r"/ext/v1/projects/(?P<pid>\d+)/builds", self._list_builds),
            ("GET", r"/ext/v1/builds/latest", self._latest),
            ("GET", b, self._get_build),
            ("GET", b + "/testRuns", self._list_runs),
            ("POST", r"/upload", self._upload),
        ):
            self.route(method, path, handler)
        self.start()

    # -- helpers for tests -------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment that points the plugin's BrowserStack target at this fake."""
        return {
            "TESTREPORT_BROWSERSTACK_API_URL": self.url,
            "TESTREPORT_BROWSERSTACK_UPLOAD_URL": self.origin + "/upload",
            "BROWSERSTACK_USERNAME": self.username,
            "BROWSERSTACK_ACCESS_KEY": self.access_key,
        }

    @property
    def build(self) -> BsBuild:
        """The only build (AssertionError when there are none or several)."""
        assert len(self.builds) == 1, f"expected one build, found {len(self.builds)}"
        return next(iter(self.builds.values()))

    @property
    def test_runs(self) -> list[BsRun]:
        """Every test run of every build, in start order."""
        return [r for build in list(self.builds.values()) for r in build.tests.values()]

    def kinds(self, build_id: Optional[str] = None) -> list[str]:
        """Event kinds in order (of one build, or all)."""
        return [e.kind for e in self.events if build_id is None or e.build_id == build_id]

    # -- service behaviour -------------------------------------------------------------------------
    def authenticate(self, rec: RecordedRequest, route: Route) -> Optional[Reply]:
        scheme, _, value = rec.headers.get("Authorization", "").partition(" ")
        expected = base64.b64encode(f"{self.username}:{self.access_key}".encode()).decode()
        if scheme.lower() == "basic" and value.strip() == expected:
            return None
        return Reply(
            401, self.unauthorized_body(), {"WWW-Authenticate": 'Basic realm="BrowserStack"'}
        )

    def error_body(self, status: int, message: str) -> Any:
        if status == 429:
            message = "Rate limit exceeded: too many requests. Retry later."
        return {"success": False, "message": message}

    def _build(self, bid: str) -> BsBuild:
        build = self.builds.get(bid)
        if build is None:
            raise Reject(404, f"Build {bid} not found")
        return build

    def _open_build(self, rec: RecordedRequest, bid: str) -> BsBuild:
        build = self._build(bid)
        if build.finished is not None:
            build.late.append(rec)
            raise Reject(400, f"Build {bid} is already finished; no more events are accepted")
        return build

    def _event(self, kind: str, build_id: str, run_id: Optional[str] = None) -> None:
        self.events.append(BsEvent(time.monotonic(), kind, build_id, run_id))

    def _upload(self, rec: RecordedRequest) -> Reply:
        self.uploads.append(accept_upload(rec, self.upload_limit))
        self._event("upload", self.uploads[-1].identifier or "")
        return upload_reply()

    def _build_start(self, rec: RecordedRequest) -> Reply:
        body = rules.build_start(json_body(rec))
        project_id = self.projects.setdefault(body["project_name"], len(self.projects) + 1)
        bid = "".join(secrets.choice(_ID_CHARS) for _ in range(40))
        self.builds[bid] = BsBuild(
            bid, body, project_id, time.monotonic(), list(body.get("tags") or [])
        )
        self._event("build_start", bid)
        return Reply(200, {"success": True, "build_hashed_id": bid})

    def _build_finish(self, rec: RecordedRequest, bid: str) -> Reply:
        build = self._build(bid)
        body = rules.build_finish(json_body(rec))
        build.finish_count += 1
        if build.finished is None:
            build.finished_at, build.finished = body["finished_at"], time.monotonic()
            runs = [*build.tests.values(), *build.hooks.values()]
            build.open_at_finish = [r.uuid for r in runs if r.finish is None]
            self._event("build_finish", bid)
        return Reply(200, {"success": True, "message": "Build finished successfully."})

    def _build_patch(self, rec: RecordedRequest, bid: str) -> Reply:
        build = self._build(bid)
        tags = build.tags + [t for t in rules.build_tags(json_body(rec)) if t not in build.tags]
        if len(tags) > rules.TAGS_MAX:
            raise Reject(400, f"build_tags: a build has at most {rules.TAGS_MAX} tags")
        build.tags = tags
        return Reply(200, {"success": True, "message": "Build updated successfully."})

    def _start(self, rec: RecordedRequest, bid: str, kind: str) -> Reply:
        build = self._open_build(rec, bid)
        body = rules.run_start(json_body(rec), hook=kind == "hook")
        test_run_id = body.get("test_run_id")
        if test_run_id is not None and test_run_id not in build.tests:
            raise Reject(400, f"test_run_id {test_run_id} is not a test run of build {bid}")
        run = BsRun(str(uuid.uuid4()), kind, body, time.monotonic())
        (build.hooks if kind == "hook" else build.tests)[run.uuid] = run
        self._event(f"{kind}_start", bid, run.uuid)
        return Reply(200, {"success": True, "uuid": run.uuid})

    def _finish(self, rec: RecordedRequest, bid: str, rid: str, kind: str) -> Reply:
        build = self._open_build(rec, bid)
        runs = build.hooks if kind == "hook" else build.tests
        run = runs.get(rid)
        if run is None:
            raise Reject(404, f"{'Hook' if kind == 'hook' else 'Test'} run {rid} not found")
        body = rules.run_finish(json_body(rec), hook=kind == "hook")
        if kind == "hook" and body["hook_type"] != run.start["hook_type"]:
            raise Reject(
                400,
                f"hook_type {body['hook_type']!r} differs from the start's "
                f"{run.start['hook_type']!r}",
            )
        for hook in body.get("hooks") or []:
            if hook not in build.hooks:
                raise Reject(400, f"hooks: {hook} is not a hook run of build {bid}")
        run.finish = body
        run.finish_count += 1
        if run.finished is None:
            run.finished = time.monotonic()
        self._event(f"{kind}_finish", bid, rid)
        return Reply(200, {"success": True, "message": "Test run updated successfully."})

    def _test_start(self, rec: RecordedRequest, bid: str) -> Reply:
        return self._start(rec, bid, "test")

    def _hook_start(self, rec: RecordedRequest, bid: str) -> Reply:
        return self._start(rec, bid, "hook")

    def _test_finish(self, rec: RecordedRequest, bid: str, rid: str) -> Reply:
        return self._finish(rec, bid, rid, "test")

    def _hook_finish(self, rec: RecordedRequest, bid: str, rid: str) -> Reply:
        return self._finish(rec, bid, rid, "hook")

    def _logs(self, rec: RecordedRequest, bid: str) -> Reply:
        build = self._open_build(rec, bid)
        entries = rules.logs(json_body(rec))
        targets = []
        for i, entry in enumerate(entries):
            run = None
            for key, runs in (("test_run_uuid", build.tests), ("hook_run_uuid", build.hooks)):
                if entry.get(key) is not None:
                    run = runs.get(entry[key])
                    if run is None:
                        raise Reject(
                            400, f"logs[{i}].{key}: {entry[key]} is not a run of build {bid}"
                        )
            targets.append(run)
        for entry, run in zip(entries, targets):
            build.logs.append(entry)
            if run is not None:
                run.logs.append(entry)
        self._event("logs", bid)
        return Reply(200, {"success": True, "message": f"{len(entries)} logs added successfully."})

    # -- read endpoints --------------------------------------------------------------------------
    def _page(self, rec: RecordedRequest, items: list[Any]) -> tuple[list[Any], dict[str, Any]]:
        cursor = rec.param("next_page")
        offset = 0
        if cursor:
            if cursor not in self._cursors:
                raise Reject(400, f"next_page {cursor!r} is not a valid cursor")
            offset = self._cursors[cursor]
        end = offset + self.page_size
        page, next_page = items[offset:end], None
        if end < len(items):
            next_page = secrets.token_urlsafe(12)
            self._cursors[next_page] = end
        return page, {"has_next": next_page is not None, "next_page": next_page}

    def _list_projects(self, rec: RecordedRequest) -> Reply:
        items = [{"id": pid, "name": name} for name, pid in self.projects.items()]
        page, pagination = self._page(rec, items)
        return Reply(200, {"projects": page, "pagination": pagination})

    def _list_builds(self, rec: RecordedRequest, pid: str) -> Reply:
        if int(pid) not in self.projects.values():
            raise Reject(404, f"Project {pid} not found")
        builds = [b for b in reversed(self.builds.values()) if b.project_id == int(pid)]
        page, pagination = self._page(rec, [self._build_view(b) for b in builds])
        return Reply(200, {"builds": page, "pagination": pagination})

    def _latest(self, rec: RecordedRequest) -> Reply:
        for build in reversed(self.builds.values()):
            if all(
                rec.param(param) in (None, build.start.get(key))
                for param, key in (("project_name", "project_name"), ("build_name", "name"))
            ):
                return Reply(200, self._build_view(build))
        raise Reject(404, "No build found")

    def _get_build(self, rec: RecordedRequest, bid: str) -> Reply:
        return Reply(200, self._build_view(self._build(bid)))

    def _list_runs(self, rec: RecordedRequest, bid: str) -> Reply:
        build = self._build(bid)
        wanted = None
        raw = rec.param("test_statuses")
        if raw:
            wanted = {s.strip() for s in raw.split(",") if s.strip()}
            unknown = wanted - {*rules.RESULTS, "pending"}
            if unknown:
                raise Reject(400, f"test_statuses: unknown status(es) {', '.join(sorted(unknown))}")
        runs = [
            r for r in build.tests.values() if wanted is None or (r.result or "pending") in wanted
        ]
        hierarchy = self.runs_shape == "hierarchy"
        page, pagination = self._page(rec, [_run_view(r, not hierarchy) for r in runs])
        if not hierarchy:
            return Reply(200, {"test_runs": page, "pagination": pagination})
        return Reply(200, {
            "build_id": build.id, "name": build.start["name"], "build_name": build.start["name"],
            "build_number": list(self.builds).index(build.id) + 1,
            "project_id": build.project_id, "is_archived": False,
            "test_summary": build.results(), "hierarchy": page, "pagination": pagination,
        })  # fmt: skip

    def _build_view(self, build: BsBuild) -> dict[str, Any]:
        counts = build.results()
        if build.finished is None:
            status = "running"
        else:
            status = "failed" if counts["failed"] or counts["timeout"] else "passed"
        return {
            "build_id": build.id,
            "name": build.start["name"],
            "project_name": build.start["project_name"],
            "project_id": build.project_id,
            "build_run_identifier": build.start.get("build_run_identifier"),
            "tags": list(build.tags),
            "status": status,
            "started_at": build.start["started_at"],
            "finished_at": build.finished_at,
            "status_stats": counts,
        }


def _run_view(run: BsRun, metadata: bool = True) -> dict[str, Any]:
    finish = run.finish or {}
    view = {
        "uuid": run.uuid,
        "name": run.name,
        "status": run.result or "pending",
        "file_name": finish.get("file_name", run.start["file_name"]),
        "scopes": finish.get("scopes", run.start["scopes"]),
        "location": run.start.get("location"),
        "tags": run.start.get("tags") or [],
        "started_at": run.start["started_at"],
        "finished_at": finish.get("finished_at"),
        "duration": finish.get("duration_in_ms"),
        "failure": finish.get("failure") or [],
    }
    if metadata:
        view["custom_metadata"] = {
            **(run.start.get("custom_metadata") or {}),
            **(finish.get("custom_metadata") or {}),
        }
    return view
