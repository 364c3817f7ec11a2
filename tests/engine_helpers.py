"""A minimal batched service and a target for it, to test the engine without any vendor API."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from pytest_testreport.engine.http import HttpClient, HttpOptions
from pytest_testreport.engine.secrets import Secret
from pytest_testreport.model import Outcome, Session, TestId, TestResult
from pytest_testreport.targets.remote import HttpTarget

from .fakes.base import FakeService, RecordedRequest, Reject, Reply, json_body

TOKEN = "collect-token-1234"


class CollectFake(FakeService):
    """Sessions that collect items: create (not idempotent), add items (upsert by uuid), close."""

    def __init__(self, max_batch: int = 50) -> None:
        super().__init__()
        self.max_batch = max_batch
        self.sessions: dict[str, dict[str, Any]] = {}
        self.deliveries: dict[str, int] = {}  # uuid -> times accepted (upserts count)
        self._ids = itertools.count(1)
        self.route("POST", r"^/sessions$", self._create)
        self.route("POST", r"^/sessions/(?P<sid>\w+)/items$", self._items)
        self.route("POST", r"^/sessions/(?P<sid>\w+)/close$", self._close)
        self.start()

    def authenticate(self, rec: RecordedRequest, route: Any) -> Optional[Reply]:
        if rec.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"message": "Unauthorized"})
        return None

    def _create(self, rec: RecordedRequest) -> Reply:
        sid = f"s{next(self._ids)}"
        self.sessions[sid] = {"items": {}, "closed": False, "order": []}
        return Reply(201, {"id": sid})

    def _session(self, sid: str) -> dict[str, Any]:
        if sid not in self.sessions:
            raise Reject(404, f"no session {sid}")
        return self.sessions[sid]

    def _items(self, rec: RecordedRequest, sid: str) -> Reply:
        session = self._session(sid)
        if session["closed"]:
            raise Reject(400, "session is closed")
        items = json_body(rec)["items"]
        if len(items) > self.max_batch:
            raise Reject(413, "too many items")
        if any(item["name"] == "BAD" for item in items):
            raise Reject(400, "an item is invalid")
        for item in items:
            session["items"][item["uuid"]] = item
            session["order"].append("item")
            self.deliveries[item["uuid"]] = self.deliveries.get(item["uuid"], 0) + 1
        return Reply(201, {"count": len(items)})

    def _close(self, rec: RecordedRequest, sid: str) -> Reply:
        session = self._session(sid)
        session["closed"] = True
        session["order"].append("close")
        session["status"] = json_body(rec)["status"]
        return Reply(200, {"id": sid})

    def unique_items(self) -> set[str]:
        return {uuid for s in self.sessions.values() for uuid in s["items"]}


class CollectTarget(HttpTarget):
    """Maps results to the collect fake's API; no retries or threads here, as in real targets."""

    name = "collect"
    batch_size = 10
    batch_age = 0.05

    def __init__(self, url: str, token: str = TOKEN, **options: Any) -> None:
        self.http = HttpClient(
            self.name, url, {"Authorization": Secret(f"Bearer {token}")},
            HttpOptions(**options), auth_hint="check COLLECT_TOKEN",
        )  # fmt: skip
        self.session_id: Optional[str] = None

    def open_session(self, session: Session) -> None:
        answer = self.http.request("POST", "sessions", json={}, idempotent=False).json()
        self.session_id = answer.get("id", "dry-run")

    def state(self) -> dict[str, Any]:
        return {"session_id": self.session_id}

    def resume(self, state: dict[str, Any], session: Session) -> None:
        self.session_id = state["session_id"]

    def send_batch(self, session: Session, results: list[TestResult],
                   progress: dict[str, Any]) -> None:  # fmt: skip
        items = [{"uuid": r.uuid, "name": r.name, "outcome": r.outcome.value} for r in results]
        self.http.request("POST", f"sessions/{self.session_id}/items", json={"items": items})

    def close_session(self, session: Session) -> None:
        self.http.request(
            "POST", f"sessions/{self.session_id}/close", json={"status": session.status.value}
        )


_START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_results(count: int, bad: tuple[int, ...] = ()) -> list[TestResult]:
    """``count`` passing results; indexes in ``bad`` carry a name the fake rejects."""
    return [
        TestResult(
            test=TestId(f"test_x.py::test_{i}", "test_x.py", "BAD" if i in bad else f"test_{i}"),
            outcome=Outcome.PASSED,
            started_at=_START + timedelta(seconds=i),
            finished_at=_START + timedelta(seconds=i, milliseconds=5),
        )
        for i in range(count)
    ]
