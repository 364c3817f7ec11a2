"""The ``buddy`` target: Buddy.works Unit Tests sessions, with cases streamed while tests run.

Flow: ``POST unit-tests/sessions`` (or join ``BUDDY_SESSION_ID``), cases in batches of at most
100 through ``POST unit-tests/sessions/{id}/cases/batch`` (an upsert keyed by group, classname
and name), ``POST unit-tests/sessions/{id}/close`` last. Mapping: ``junit.py``; the API's
URL and clients: ``client.py``; the read side (``list/show/failed --target buddy``,
``--testreport-failed-from=buddy``): ``reader.py``; the ``buddy open/close/reopen`` verbs:
``cli.py``. API facts: ../shared/reference/buddy.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote

from ...batching import spans
from ...config import Settings
from ...engine.errors import DeliveryError, RejectedError
from ...engine.target import MAX_TEST_LINKS
from ...model import Outcome, Session, TestResult
from ..remote import HttpTarget
from . import BUDDY_DATA_LIMIT, SPEC
from .client import json_body, suite_client
from .junit import (
    MAX_EARLIER,
    MIN_DATA_LIMIT,
    attempt_summary,
    case_payload,
    close_status,
    session_payload,
)

if TYPE_CHECKING:
    from ...engine.http import HttpClient

MAX_BATCH = 100  # what the official reporter proves; no maximum is documented
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # a batch of huge failures is split further by size


def parse_data_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise ValueError("expected a number of bytes") from None
    if limit < MIN_DATA_LIMIT:
        raise ValueError(f"expected at least {MIN_DATA_LIMIT} bytes")
    return limit


class BuddyTarget(HttpTarget):
    """Streams final attempts as upserted cases; earlier attempts go into their ``data``."""

    name = "buddy"
    batch_size = MAX_BATCH
    batch_age = 1.0
    concurrency = 1  # in-order batches: a test's attempts reach the target in order

    def __init__(
        self,
        http: HttpClient,
        *,
        join: Optional[str] = None,
        close_joined: bool = False,
        data_limit: int = BUDDY_DATA_LIMIT,
        dry_run: bool = False,
    ) -> None:
        self.http = http
        self.session_id: Optional[str] = join
        self.joined = join is not None
        self.close_joined = close_joined
        self.data_limit = data_limit
        self.dry_run = dry_run
        self.html_url: Optional[str] = None
        self.closed_view: dict[str, Any] = {}
        self._links: dict[str, str] = {}  # failed result uuid -> its case's html_url
        # node id -> earlier attempts (by result uuid) waiting for the final attempt. Only
        # retried tests are here, and only until their final attempt was delivered.
        self._pending: dict[str, dict[str, dict[str, Any]]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> BuddyTarget:
        options = settings.options_of(SPEC)
        return cls(
            suite_client(settings),
            join=(options.buddy_session_id or None),
            close_joined=options.buddy_close,
            data_limit=options.buddy_data_limit or BUDDY_DATA_LIMIT,
            dry_run=settings.dry_run,
        )

    # -- the run ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "html_url": self.html_url,
            "joined": self.joined,
            "close_joined": self.close_joined,
        }

    def resume(self, state: dict[str, Any], session: Session) -> None:
        self.session_id = state.get("session_id") or self.session_id
        self.html_url = state.get("html_url")
        self.joined = bool(state.get("joined"))
        self.close_joined = bool(state.get("close_joined")) or self.close_joined

    def open_session(self, session: Session) -> None:
        if self.joined:  # nothing to create; a wrong id shows up as a 404 on the first batch
            return
        # Not idempotent: a create that may have been processed is never repeated blindly.
        try:
            response = self.http.request(
                "POST", "unit-tests/sessions", json=session_payload(session.ci), idempotent=False
            )
        except RejectedError as exc:
            if exc.status != 404:
                raise
            hint = (
                f"{self.http.base_url} does not look like the Buddy API; on-premises installs "
                "serve it at https://HOST/api (set BUDDY_API_URL)"
            )
            raise RejectedError(404, exc.reason, exc.body, hint) from None
        body = json_body(response)
        if not body.get("id"):
            if not self.dry_run:
                raise DeliveryError("Buddy created a session but its answer has no id")
            body["id"] = "dry-run"
        self.session_id = str(body["id"])
        self.html_url = body.get("html_url")

    def send_batch(
        self, session: Session, results: list[TestResult], progress: dict[str, Any]
    ) -> None:
        # ``progress`` survives spooling: it keeps each final attempt's earlier attempts (which
        # only this process saw) and how many cases of the batch were already confirmed.
        earlier_by_final: dict[str, list[dict[str, Any]]] = progress.setdefault("earlier", {})
        cases, finals, failed = [], [], []
        for result in results:
            if not result.final:  # sent once, inside its final attempt's data
                attempts = self._pending.setdefault(result.nodeid, {})
                attempts[result.uuid] = attempt_summary(result)
                if len(attempts) > MAX_EARLIER:
                    attempts.pop(next(iter(attempts)))
                continue
            earlier = earlier_by_final.get(result.uuid)
            if earlier is None:
                pending = self._pending.get(result.nodeid, {})
                earlier = sorted(pending.values(), key=lambda a: a["attempt"])
                if earlier:
                    earlier_by_final[result.uuid] = earlier
            cases.append(case_payload(result, earlier, self.data_limit))
            finals.append(result.nodeid)
            failed.append(result.uuid if result.outcome in _BAD else None)
        sent = int(progress.get("sent", 0))
        for start, end in _chunks(cases, sent):
            answer = self._call("POST", "cases/batch", {"cases": cases[start:end]})
            self._keep_links(answer, cases[start:end], failed[start:end])
            progress["sent"] = end
        for nodeid in finals:
            self._pending.pop(nodeid, None)

    def _keep_links(self, answer: Any, cases: list[dict[str, Any]],
                    failed: list[Optional[str]]) -> None:  # fmt: skip
        """Keep the ``html_url`` the batch answer gives each failed case (matched by the
        case's upsert key: the answer's order is not documented)."""
        wanted = {_key(c): uuid for c, uuid in zip(cases, failed) if uuid}
        if not wanted or len(self._links) >= MAX_TEST_LINKS:
            return
        for view in json_body(answer).get("cases") or ():
            uuid = wanted.get(_key(view)) if isinstance(view, dict) else None
            url = view.get("html_url") if uuid else None
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                self._links.setdefault(uuid, url)  # type: ignore[arg-type]
                if len(self._links) >= MAX_TEST_LINKS:
                    return

    def test_links(self) -> dict[str, str]:
        return dict(self._links)

    def close_session(self, session: Session) -> None:
        if self.joined and not self.close_joined:
            return  # a shared session: the pipeline's last step closes it (buddy close)
        self.closed_view = json_body(self._call("POST", "close", {"status": close_status(session)}))
        self.html_url = self.closed_view.get("html_url") or self.html_url

    def _call(self, method: str, suffix: str, payload: Any) -> Any:
        path = f"unit-tests/sessions/{quote(str(self.session_id), safe='')}/{suffix}"
        try:
            return self.http.request(method, path, json=payload)
        except RejectedError as exc:
            if exc.status == 404:
                where = (
                    f"BUDDY_SESSION_ID={self.session_id}: this session does not exist in "
                    "the suite of the token (create one with pytest-testreport buddy open)"
                    if self.joined
                    else f"session {self.session_id} no longer exists"
                )
                # A session that is gone takes nothing more: the engine spools the rest.
                raise RejectedError(404, exc.reason, "", where, stops_target=True) from None
            if exc.status in (400, 409) and "closed" in exc.body.lower():
                raise RejectedError(
                    exc.status,
                    exc.reason,
                    exc.body,
                    "the session is closed; "
                    f"pytest-testreport buddy reopen {self.session_id} then "
                    "pytest-testreport replay",
                    stops_target=True,
                ) from None
            raise

    def summary(self, session: Session) -> str:
        if self.joined and not self.close_joined:
            return (
                f"joined session {self.session_id} — {session.summary()} — left open for "
                f"pytest-testreport buddy close {self.session_id}"
            )
        status = self.closed_view.get("status")  # Buddy's own verdict, e.g. SUCCESSFUL
        shown = f"{self.session_id} {status}" if status else self.session_id
        return f"session {shown} — {session.summary()}"

    def link(self) -> Optional[str]:
        return self.html_url


_BAD = (Outcome.FAILED, Outcome.ERROR)


def _key(case: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (case.get("test_group_name"), case.get("classname"), case.get("name"))


def _chunks(cases: list[dict[str, Any]], start: int) -> list[tuple[int, int]]:
    """Request-sized slices from ``start``: at most MAX_BATCH cases and ~MAX_REQUEST_BYTES."""
    weights = [len(case["data"]) * 2 + 512 for case in cases]
    return spans(weights, MAX_BATCH, MAX_REQUEST_BYTES, start)
