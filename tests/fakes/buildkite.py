"""Fake Buildkite Test Engine: the upload API and the analytics REST API.

Configure ``BUILDKITE_ANALYTICS_API_URL`` = :attr:`FakeBuildkite.url` (``http://127.0.0.1:PORT/v1``;
uploads go to ``{url}/uploads``) and ``TESTREPORT_BUILDKITE_REST_URL`` =
:attr:`FakeBuildkite.rest_url` (``http://127.0.0.1:PORT/v2``). Reference:
``../shared/reference/buildkite.md``.

Choices where the docs are silent:
- upload-level problems (format, ``run_env.key``, upload tags, empty data or > 5000 records)
  answer 422 ``{"message": ...}``; malformed JSON or gzip 400; a non-JSON body 415;
- invalid records are skipped (202, counted in ``skipped``; ``errors`` stays empty, as the docs
  say errors carry no per-record detail); the reasons are kept in ``run.skipped_reasons``;
- a run is ``finished`` as soon as an upload is processed; ``result`` is ``failed`` if any
  execution failed, else ``passed`` (``pending`` without executions);
- ``failed_executions[].execution_id`` is the record's ``id`` when it sent one;
  ``test_name`` is ``"{scope} {name}"``;
- REST ``per_page`` above 100 is clamped to 100; the REST rate limit is the documented one
  (200/min per organization, 50/min per user) unless :meth:`rest_limits` changes it.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from typing import Any, Optional
from urllib.parse import urlencode

from . import buildkite_rules as rules
from .base import FakeService, RecordedRequest, Reject, Reply, Route, json_body
from .buildkite_model import BkExecution, BkRun, BkUpload, RateWindow


class FakeBuildkite(FakeService):
    """Fake Buildkite Test Engine. State: :attr:`runs` (key -> :class:`BkRun`), :attr:`uploads`."""

    prefix = "/v1"

    def __init__(
        self,
        token: str = "fake-bk-suite-token",
        api_token: str = "fake-bk-api-token",
        org: str = "fake-org",
        suite: str = "fake-suite",
    ) -> None:
        super().__init__()
        self.token, self.api_token, self.org, self.suite = token, api_token, org, suite
        self.runs: dict[str, BkRun] = {}
        self.uploads: list[BkUpload] = []
        self.labels: dict[tuple[str, str], list[str]] = {}  # (scope, name) -> labels
        self.muted: Optional[list[tuple[str, str]]] = []  # (scope, name); None: no such list
        self._test_ids: dict[tuple[str, str], str] = {}
        self.rest_limits()
        self.route("POST", r"/v1/uploads", self._upload, auth="upload")
        base = r"/v2/analytics/organizations/(?P<org>[^/]+)/suites/(?P<suite>[^/]+)"
        for path, handler in (
            ("/runs", self._list_runs),
            (r"/runs/(?P<rid>[^/]+)", self._get_run),
            (r"/runs/(?P<rid>[^/]+)/failed_executions", self._failed),
            ("/tests", self._tests),
            ("/tests/muted", self._muted),
        ):
            self.route("GET", base + path, handler, auth="rest")
        self.start()

    @property
    def rest_url(self) -> str:
        """REST base (``https://api.buildkite.com/v2`` in real life)."""
        return self.origin + "/v2"

    # -- helpers for tests -------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment that points the plugin's Buildkite target (and its CLI) at this fake."""
        return {
            "BUILDKITE_ANALYTICS_API_URL": self.url,
            "BUILDKITE_ANALYTICS_TOKEN": self.token,
            "BUILDKITE_API_TOKEN": self.api_token,
            "TESTREPORT_BUILDKITE_REST_URL": self.rest_url,
            "TESTREPORT_BUILDKITE_ORG": self.org,
            "TESTREPORT_BUILDKITE_SUITE": self.suite,
        }

    @property
    def run(self) -> BkRun:
        """The only run (AssertionError when there are none or several)."""
        assert len(self.runs) == 1, f"expected one run, found {len(self.runs)}: {list(self.runs)}"
        return next(iter(self.runs.values()))

    @property
    def executions(self) -> list[BkExecution]:
        """Every stored execution of every run, duplicates included."""
        return [e for run in list(self.runs.values()) for e in run.executions]

    def set_labels(self, scope: str, name: str, *labels: str) -> None:
        """Label a test (e.g. ``"flaky"``) for ``GET .../tests?label=``."""
        with self.lock:
            self.labels[(scope, name)] = list(labels)

    def mute(self, scope: str, name: str) -> None:
        """Mute a test, as the UI does (for ``GET .../tests/muted``)."""
        with self.lock:
            assert self.muted is not None
            self.muted.append((scope, name))

    def rest_limits(self, org: int = 200, user: int = 50, window: float = 60.0) -> None:
        """REST rate limits per window (documented defaults: 200 org, 50 user, per minute)."""
        with self.lock:
            self._org_limit, self._user_limit = RateWindow(org, window), RateWindow(user, window)

    # -- service behaviour -------------------------------------------------------------------------
    def authenticate(self, rec: RecordedRequest, route: Route) -> Optional[Reply]:
        header = rec.headers.get("Authorization", "")
        if route.auth == "upload":
            m = re.fullmatch(r'Token token=(?:"([^"]*)"|(\S+))', header.strip())
            if m and (m.group(1) or m.group(2)) == self.token:
                return None
            return Reply(401, {"message": "Unauthorized: invalid suite API token"})
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or value.strip() != self.api_token:
            return Reply(
                401,
                {
                    "message": "Authentication required. Please supply a valid API "
                    "Access Token: https://buildkite.com/docs/apis/rest-api"
                },
            )
        return self._rest_rate_check()

    def _rest_rate_check(self) -> Optional[Reply]:
        with self.lock:
            now = time.monotonic()
            for window in (self._org_limit, self._user_limit):
                window.hit(now)
            for scope, window in (("rest_user", self._user_limit), ("rest", self._org_limit)):
                if window.count > window.limit:
                    body = {
                        "message": "You have exceeded the rate limit. Please try again later.",
                        "scope": scope,
                        "limit": window.limit,
                        "current": window.count,
                        "reset": window.reset(now),
                    }
                    return Reply(429, body)
        return None

    def response_headers(self, rec: RecordedRequest, reply: Reply) -> dict[str, str]:
        if not rec.path.startswith("/v2/"):
            return {}
        now = time.monotonic()
        with self.lock:
            org, user = self._org_limit, self._user_limit
            return {
                "RateLimit-Scope": "rest",
                "RateLimit-Limit": str(org.limit),
                "RateLimit-Remaining": str(max(0, org.limit - org.count)),
                "RateLimit-Reset": str(org.reset(now)),
                "RateLimit-User-Scope": "rest_user",
                "RateLimit-User-Limit": str(user.limit),
                "RateLimit-User-Remaining": str(max(0, user.limit - user.count)),
                "RateLimit-User-Reset": str(user.reset(now)),
            }

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message}

    # -- upload API --------------------------------------------------------------------------------
    def _upload(self, rec: RecordedRequest) -> Reply:
        ctype = rec.headers.get("Content-Type", "")
        if "multipart/form-data" in ctype:
            raise Reject(415, "fake supports JSON uploads only (format: json)")
        run_env, tags, data = rules.upload(json_body(rec))
        valid: list[dict[str, Any]] = []
        reasons: list[str] = []
        for i, raw in enumerate(data):
            try:
                valid.append(rules.execution(raw, f"data[{i}]", tags))
            except Reject as exc:
                reasons.append(exc.message)
        run = self.runs.get(run_env["key"])
        if run is None:
            run = self.runs[run_env["key"]] = BkRun(
                str(uuid.uuid4()), run_env["key"], dict(run_env)
            )
        upload = BkUpload(
            str(uuid.uuid4()),
            run.key,
            len(data),
            len(valid),
            len(reasons),
            (rec.content_encoding or "").lower() == "gzip",
            tags,
            rec.received_at,
        )
        for record in valid:
            execution_id = record.get("id") or str(uuid.uuid4())
            if execution_id in run.ids:
                run.duplicates += 1
            run.ids.add(execution_id)
            merged = {**tags, **(record.get("tags") or {})}
            run.executions.append(BkExecution(record, merged, run.key, upload.id, execution_id))
            self._test_id(record)
        run.uploads.append(upload)
        run.skipped += len(reasons)
        run.skipped_reasons.extend(reasons)
        self.uploads.append(upload)
        return Reply(
            202,
            {
                "id": upload.id,
                "run_id": run.id,
                "queued": len(valid),
                "skipped": len(reasons),
                "errors": [],
                "run_url": self._web_url(run),
            },
        )

    def _test_id(self, record: dict[str, Any]) -> str:
        key = (record.get("scope") or "", record["name"])
        return self._test_ids.setdefault(key, str(uuid.uuid4()))

    def _web_url(self, run: BkRun) -> str:
        return f"https://buildkite.com/organizations/{self.org}/analytics/suites/{self.suite}/runs/{run.id}"

    # -- REST API ----------------------------------------------------------------------------------
    def _suite_base(self, org: str, suite: str) -> str:
        if (org, suite) != (self.org, self.suite):
            raise Reject(404, "Not Found")
        return f"{self.rest_url}/analytics/organizations/{org}/suites/{suite}"

    def _paginate(self, rec: RecordedRequest, items: list[Any]) -> Reply:
        page, per_page = _int_param(rec, "page", 1), min(_int_param(rec, "per_page", 30), 100)
        last = max(1, math.ceil(len(items) / per_page))
        query = {k: v[0] for k, v in rec.query.items()}
        links = {"first": 1, "last": last}
        if page > 1:
            links["prev"] = min(page - 1, last)
        if page < last:
            links["next"] = page + 1
        parts = []
        for rel in ("next", "prev", "first", "last"):
            if rel in links:
                q = urlencode({**query, "page": links[rel], "per_page": per_page})
                parts.append(f'<{self.origin}{rec.path}?{q}>; rel="{rel}"')
        body = items[(page - 1) * per_page : page * per_page]
        return Reply(200, body, {"Link": ", ".join(parts)})

    def _run_view(self, base: str, run: BkRun) -> dict[str, Any]:
        return {
            "id": run.id,
            "url": f"{base}/runs/{run.id}",
            "web_url": self._web_url(run),
            "branch": run.run_env.get("branch"),
            "commit_sha": run.run_env.get("commit_sha"),
            "state": "finished",
            "result": run.result,
            "build_id": None,
            "created_at": run.created_at,
        }

    def _find_run(self, rid: str) -> BkRun:
        for run in self.runs.values():
            if run.id == rid:
                return run
        raise Reject(404, "Not Found")

    def _list_runs(self, rec: RecordedRequest, org: str, suite: str) -> Reply:
        base = self._suite_base(org, suite)
        runs = [self._run_view(base, r) for r in reversed(self.runs.values())]
        if rec.param("build_id") is not None:
            runs = [r for r in runs if r["build_id"] == rec.param("build_id")]
        return self._paginate(rec, runs)

    def _get_run(self, rec: RecordedRequest, org: str, suite: str, rid: str) -> Reply:
        return Reply(200, self._run_view(self._suite_base(org, suite), self._find_run(rid)))

    def _failed(self, rec: RecordedRequest, org: str, suite: str, rid: str) -> Reply:
        base = self._suite_base(org, suite)
        run = self._find_run(rid)
        items = []
        for e in run.executions:
            if e.result != "failed":
                continue
            test_id = self._test_id(e.data)
            items.append(
                {
                    "execution_id": e.execution_id,
                    "run_id": run.id,
                    "test_id": test_id,
                    "run_name": run.run_env.get("message"),
                    "commit_sha": run.run_env.get("commit_sha"),
                    "created_at": e.created_at,
                    "branch": run.run_env.get("branch"),
                    "failure_reason": e.data.get("failure_reason"),
                    "duration": e.data["history"]["duration"],
                    "location": e.data.get("location"),
                    "test_name": f"{e.scope or ''} {e.name}".strip(),
                    "run_url": self._web_url(run),
                    "test_url": f"{base}/tests/{test_id}",
                    "test_execution_url": f"{self._web_url(run)}/executions/{e.execution_id}",
                    "tags": {
                        k: v
                        for k, v in e.tags.items()
                        if k not in ("result", "scm.branch", "scm.commit_sha")
                    },
                }
            )
        return self._paginate(rec, items)

    def _tests(self, rec: RecordedRequest, org: str, suite: str) -> Reply:
        base = self._suite_base(org, suite)
        wanted = [v for v in rec.query.get("label", [])]
        wanted += [v for raw in rec.query.get("labels", []) for v in raw.split(",") if v]
        latest: dict[tuple[str, str], BkExecution] = {}
        for e in self.executions:
            latest[(e.scope or "", e.name)] = e
        items = []
        for key, e in latest.items():
            labels = self.labels.get(key, [])
            if all((w[1:] not in labels) if w.startswith("!") else (w in labels) for w in wanted):
                test_id = self._test_id(e.data)
                items.append(
                    {
                        "id": test_id,
                        "url": f"{base}/tests/{test_id}",
                        "web_url": f"https://buildkite.com/organizations/{org}/analytics/suites/{suite}/tests/{test_id}",
                        "scope": e.scope,
                        "name": e.name,
                        "location": e.data.get("location"),
                        "file_name": e.data.get("file_name"),
                        "labels": labels,
                    }
                )
        return self._paginate(rec, items)

    def _muted(self, rec: RecordedRequest, org: str, suite: str) -> Reply:
        """Muted tests (reference §2); 404 when the suite has no test states (``muted=None``)."""
        base = self._suite_base(org, suite)
        if self.muted is None:
            return Reply(404, {"message": "Not Found"})
        items = []
        for scope, name in self.muted:
            test_id = self._test_id({"scope": scope, "name": name})
            items.append({"id": test_id, "url": f"{base}/tests/{test_id}",
                          "web_url": f"https://buildkite.com/organizations/{org}/analytics/suites/"
                                     f"{suite}/tests/{test_id}",
                          "scope": scope, "name": name, "location": None,
                          "file_name": scope.split("::")[0]})  # fmt: skip
        return self._paginate(rec, items)


def _int_param(rec: RecordedRequest, name: str, default: int) -> int:
    raw = rec.param(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise Reject(400, f"{name} must be a positive integer, got {raw!r}")
    return int(raw)
