"""The ``browserstack`` target: BrowserStack Test Reporting & Analytics' public API (``/ext/v1``).

One build per run (or a build that was started before, for sharded CI). Each test attempt is a
test run: its start, then its hook runs (slow or failed fixture phases) and logs, then its finish.
The engine delivers a result when the test has ended, so start and finish go back to back, the
start carrying the test's true ``started_at``. Every step a result reached is written to the
engine's ``progress`` so that a spooled result resumes where it stopped and no server-side run is
created twice; on replay a run that may exist is looked up (``lookup``: by our id,
else by what its start sent) before anything is started again. Payloads and limits live in
``mapping`` (the build, test runs) and ``hooks`` (hook runs, logs);
settings in ``config``; the ``browserstack start/finish`` verbs in
``cli``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Optional

from ...engine.errors import AmbiguousError, DeliveryError, RetryableError
from ...model import Session, TestResult, TestStart, utcnow
from ..remote import HttpTarget
from . import hooks as bshooks
from . import lane as bslane
from . import mapping as bsmap
from .bulk import BULK_AGE, BULK_BATCH, BulkLane
from .config import CONCURRENCY, BrowserStackConfig, client
from .lookup import RunLookup, run_uuid
from .reader import UnexpectedAnswer, answer, find_build

if TYPE_CHECKING:
    from ...config import Settings
    from ...engine.http import HttpClient

_LINK_KEYS = ("build_url", "dashboard_url", "public_url", "url")


class BrowserStackTarget(HttpTarget):
    """Builds and test runs on BrowserStack Test Reporting & Analytics."""

    name = "browserstack"
    batch_size = 1  # one test run per call anyway; a small pool sends several tests at once
    batch_age = 0.1
    concurrency = CONCURRENCY
    wants_starts = True  # tests/start goes out when the test starts, its finish when it ends
    calls_per_result = float(bslane.CALLS_PER_TEST)  # live: a start and a finish per result

    def __init__(self, config: BrowserStackConfig, http: HttpClient) -> None:
        self.config = config
        self.http = http
        self.build_id: Optional[str] = config.build_id
        self.joined = config.build_id is not None
        self.env = {**bsmap.host_environment(), **config.environment}
        self._link: Optional[str] = None
        self._replaying = False
        self._lookup: Optional[RunLookup] = None  # the build's runs, read once by replay
        # Live starts by our result id: (done, run uuid or None, maybe-processed-without-answer).
        self._live: dict[str, list[Any]] = {}
        self._live_lock = threading.Lock()
        # The lane (``lane``): fixed by the option, else chosen by ``plan`` at collection.
        self.lane: Optional[str] = config.mode if config.mode != "auto" else None
        if config.replay and self.lane is None:
            self.lane = bslane.LIVE  # replay: ``resume`` restores the run's own lane
        self._planned = threading.Event()
        self.bulk = BulkLane(config, http)

    @classmethod
    def from_settings(cls, settings: Settings) -> BrowserStackTarget:
        config = BrowserStackConfig.from_settings(settings)
        return cls(config, client(settings, config))

    # -- calls ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any, idempotent: bool = True) -> dict[str, Any]:
        response = self.http.request(method, path, json=body, idempotent=idempotent)
        return answer(response, f"{method} {path.split('/')[0]}/…/{path.rsplit('/', 1)[-1]}")

    def _create(self, path: str, body: Any, marker: dict[str, Any]) -> dict[str, Any]:
        """POST a start. ``marker["start"]`` stays "unknown" when it may have been processed."""
        marker["start"] = "unknown"
        try:
            response = self.http.request("POST", path, json=body, idempotent=False)
        except AmbiguousError:
            raise
        except DeliveryError:
            marker.pop("start", None)  # certainly not processed: may be sent again
            raise
        return answer(response, f"POST {path.split('/', 2)[-1]}")

    def _created(self, data: dict[str, Any], key: str, what: str, fallback: str) -> str:
        value = data.get(key)
        if value:
            return str(value)
        if self.config.dry_run:
            return fallback
        raise UnexpectedAnswer(f"BrowserStack answered {what} without {key!r} "
                               f"(keys: {', '.join(sorted(data)) or 'none'})")  # fmt: skip

    # -- the lane ---------------------------------------------------------------------------
    def plan(self, tests: int, expected: Optional[float] = None) -> None:
        """Collection is done: choose the lane from the test count and the budget."""
        if self.lane is None:
            self.lane = bslane.choose(self.config.mode, tests, self.config.budget, expected)
        self._planned.set()

    def _await_lane(self) -> str:
        """The lane, once collection chose it; live when the run ends before it did.

        Only a target the engine runs (``bind`` gave it the run's deadline) waits for the plan:
        one used directly, outside a run, has no collection to wait for and goes live.
        """
        deadline = getattr(self, "deadline", None)
        while self.lane is None and deadline is not None and not self._planned.wait(0.1):
            if deadline.is_set:
                break
        if self.lane is None:
            self.lane = bslane.choose(self.config.mode, None, self.config.budget)
        if self.lane == bslane.JUNIT:
            # The engine hands every result over at the session's end, as one batch.
            self.batch_size = BULK_BATCH  # type: ignore[misc]
            self.batch_age = BULK_AGE  # type: ignore[misc]
        return self.lane

    def sendable(self, seconds: float) -> Optional[int]:
        """The junit lane's one upload is not bound by the per-request budget."""
        return None if self.lane == bslane.JUNIT else super().sendable(seconds)

    # -- the build --------------------------------------------------------------------------
    def open_session(self, session: Session) -> None:
        if self._await_lane() == bslane.JUNIT:
            return  # no build to start: the upload makes it
        if self.joined:
            return  # the build was started by `pytest-testreport browserstack start`
        if self.config.replay:  # the run's start may have made the build before its answer got lost
            self.build_id = self._find_build(session)
            if self.build_id:
                return
        self.build_id = self.start_build(session)

    def _find_build(self, session: Session) -> Optional[str]:
        """The project's build with this session's name and start time, if one exists."""
        name = bsmap.clip(self._build_name(session), bsmap.BUILD_NAME_MAX)
        try:
            return find_build(self.http, self.config.project, name, session.started_at)
        except DeliveryError:
            return None  # cannot look: start a build (a duplicate beats losing the results)

    def _build_name(self, session: Session) -> str:
        return self.config.build_name or bsmap.default_build_name(session.ci)

    def start_build(self, session: Session) -> str:
        """``POST /builds/start``; not repeated blindly (a lost answer may have made a build)."""
        name, config = self._build_name(session), self.config
        body = bsmap.build_start(session, name, config.project, config.build_tags)
        data = self._call("POST", "builds/start", body, idempotent=False)
        for key in _LINK_KEYS:
            if isinstance(data.get(key), str) and data[key].startswith("http"):
                self._link = data[key]
                break
        return self._created(data, "build_hashed_id", "POST builds/start", "dry-run")

    def finish_build(self, build_id: str, finished_at: str) -> None:
        self._call("PUT", f"builds/{build_id}/finish", {"finished_at": finished_at})

    def state(self) -> dict[str, Any]:
        return {"build_id": self.build_id, "joined": self.joined, "link": self._link,
                "environment": self.env, "lane": self.lane}  # fmt: skip

    def resume(self, state: dict[str, Any], session: Session) -> None:
        self.build_id = state.get("build_id") or self.build_id
        self.joined = bool(state.get("joined", self.joined))
        self._link = state.get("link")
        self.env = dict(state.get("environment") or self.env)
        self.lane = state.get("lane") or bslane.LIVE  # a journal written before lanes: live
        self._await_lane()
        self._replaying = True  # progress may be incomplete: look runs up before starting them

    def close_session(self, session: Session) -> None:
        if self.lane == bslane.JUNIT:
            return  # the upload was the whole build; there is nothing to finish
        if self.joined:
            return  # whoever started the build finishes it (`browserstack finish BUILD_ID`)
        finished = session.finished_at or utcnow()
        self.finish_build(self._build(), bsmap.iso(finished))

    def summary(self, session: Session) -> str:
        if self.lane == bslane.JUNIT:
            return f"{session.summary()} (junit upload)"
        text = f"build {self.build_id} — {session.summary()} (live)"
        if self.joined:
            text += (
                f" (joined; finish it with: pytest-testreport browserstack finish {self.build_id})"
            )
        return text

    def link(self) -> Optional[str]:
        return self.bulk.link if self.lane == bslane.JUNIT else self._link

    def _build(self) -> str:
        if not self.build_id:
            raise DeliveryError("the BrowserStack build was not started")
        return self.build_id

    # -- test runs --------------------------------------------------------------------------
    def send_start(self, session: Session, start: TestStart) -> None:
        """``tests/start`` as the test starts; its result's finish waits for the answer."""
        if not self.build_id or self._replaying:
            return
        live = [threading.Event(), None, False]
        with self._live_lock:
            self._live[start.uuid] = live
        try:
            body = bsmap.live_test_start(start, self.env)
            data = self._create(f"builds/{self.build_id}/tests/start", body, {})
            live[1] = self._created(data, "uuid", "POST tests/start", f"dry-run-{start.uuid}")
        except AmbiguousError:
            live[2] = True
            raise
        finally:
            live[0].set()

    def _live_run(self, result: TestResult, step: dict[str, Any]) -> Optional[str]:
        """The run its live start created, once that start has answered.

        The engine sends a result only after its start was sent (or not sent at all), so no
        start can follow a result that found none.
        """
        with self._live_lock:
            live = self._live.pop(result.uuid, None)
        if live is None:
            return None
        remaining = self.deadline.remaining() if hasattr(self, "deadline") else None
        live[0].wait(remaining if remaining is not None else 60.0)
        if live[1]:
            return str(live[1])
        if live[2] or not live[0].is_set():
            # The start may exist without our knowing its uuid: never start a second run;
            # replay looks the run up (by our id, else by what its start sent).
            step["start"] = "unknown"
            raise AmbiguousError(f"the start of {result.nodeid} got no answer; not repeated")
        return None

    def send_batch(self, session: Session, results: list[TestResult],
                   progress: dict[str, Any]) -> None:  # fmt: skip
        if self.lane == bslane.JUNIT:
            self.bulk.upload(session, results, self._build_name(session), progress)
            return
        for result in results:
            step = progress.setdefault(result.uuid, {})
            if not step.get("done"):
                self._deliver(result, step)

    def _deliver(self, result: TestResult, step: dict[str, Any]) -> None:
        build = self._build()
        run = step.get("run")
        if run is None and self._replaying:
            run = self._known_run(result, step)
            if step.get("done"):
                return
        if run is None and not self._replaying:
            run = self._live_run(result, step)
            if run is not None:
                step["run"] = run
        if run is None:
            # A start that may have been processed is looked up on replay, never re-sent.
            data = self._create(f"builds/{build}/tests/start",
                                bsmap.test_start(result, self.env), step)  # fmt: skip
            run = self._created(data, "uuid", "POST tests/start", f"dry-run-{result.uuid}")
            step["run"] = run
            step.pop("start", None)
        hooks = self._hooks(build, result, run, step)
        self._logs(build, result, run, step)
        self._call("PUT", f"builds/{build}/tests/{run}/finish",
                   bsmap.test_finish(result, self.env, hooks))  # fmt: skip
        step["done"] = True

    def _hooks(self, build: str, result: TestResult, run: str, step: dict[str, Any]) -> list[str]:
        """Hook runs of the slow or failed phases (per the mode); returns their uuids."""
        sent: list[str] = []
        hooks = step.setdefault("hooks", {})
        for run_hook in bshooks.hook_runs(result, self.config.hooks, self.config.hook_threshold):
            phase = run_hook.key
            hook = hooks.setdefault(phase, {})
            if hook.get("skip"):
                continue
            if "uuid" not in hook:
                if hook.get("start") == "unknown":
                    hook["skip"] = True  # maybe created: better one open hook than two
                    continue
                data = self._create(
                    f"builds/{build}/hooks/start",
                    bshooks.hook_start(result, run_hook, run, self.env),
                    hook,
                )
                hook["uuid"] = self._created(data, "uuid", "POST hooks/start", f"dry-run-{phase}")
                hook.pop("start", None)
            if not hook.get("done"):
                self._call("PUT", f"builds/{build}/hooks/{hook['uuid']}/finish",
                           bshooks.hook_finish(result, run_hook))  # fmt: skip
                hook["done"] = True
            sent.append(hook["uuid"])
        return sent

    def _logs(self, build: str, result: TestResult, run: str, step: dict[str, Any]) -> None:
        if not bshooks.wants_logs(result, self.config.logs):
            return
        parts = bshooks.chunks(bshooks.log_entries(result, run))
        for index in range(int(step.get("logs", 0)), len(parts)):
            # Counted before the call: a request that may have arrived is never sent twice.
            step["logs"] = index + 1
            try:
                response = self.http.request(
                    "POST", f"builds/{build}/logs", json={"logs": parts[index]}, idempotent=False
                )
            except AmbiguousError:
                raise
            except DeliveryError:
                step["logs"] = index  # certainly not processed: send it again later
                raise
            answer(response, "POST logs")

    # -- replay: find runs whose start may have been processed ------------------------------
    def _known_run(self, result: TestResult, step: dict[str, Any]) -> Optional[str]:
        """On replay, the run this result already has on BrowserStack, if any.

        A live start leaves no trace in the spool when its process ended before the result
        was delivered, so every result is looked for. When the runs cannot be read, a result
        whose start got no answer waits for a later replay (never a second run); any other
        is started (a duplicate of a dead process's live start beats losing the result).
        """
        try:
            lookup = self._runs()
        except DeliveryError as exc:
            if step.get("start") != "unknown":
                return None
            raise RetryableError(
                f"cannot tell whether the test run of {result.nodeid} was created (its start "
                f"got no answer): {exc}; the journal is kept"
            ) from None
        run = lookup.claim(result.uuid, bsmap.test_start(result, self.env))
        if run is None:
            return None
        step["run"] = run_uuid(run)
        if str(run.get("status") or "").lower() not in ("pending", "running", ""):
            step["done"] = True  # finished already: its finish was the last call
        return step["run"]

    def _runs(self) -> RunLookup:
        """The build's runs; a failed read is not kept, so the next result reads again."""
        if self._lookup is None:
            self._lookup = RunLookup.load(self.http, self._build(), bsmap.ID_KEY)
        return self._lookup
