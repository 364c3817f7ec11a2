"""Build local stores for tests by writing through the real ``LocalTarget``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pytest

from pytest_testreport.ci import CIInfo
from pytest_testreport.cli import main
from pytest_testreport.model import (
    Failure,
    Outcome,
    ResultKind,
    Session,
    Step,
    TestId,
    TestResult,
)
from pytest_testreport.targets.local.target import LocalTarget

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)


def make_result(
    nodeid: str,
    outcome: str = "passed",
    *,
    duration: float = 0.1,
    attempt: int = 1,
    final: bool = True,
    message: Optional[str] = None,
    phase: str = "call",
    traceback: Sequence[str] = (),
    kind: ResultKind = ResultKind.TEST,
    line: Optional[int] = 1,
    reason: Optional[str] = None,
    worker: Optional[str] = None,
    steps: Sequence[Step] = (),
    metadata: Sequence[tuple[str, str]] = (),
    tags: Sequence[str] = (),
    start: datetime = T0,
) -> TestResult:
    """One attempt; a failed or errored one gets a failure (``message`` or a default one)."""
    path = nodeid.split("::")[0]
    failure = None
    if outcome in ("failed", "error"):
        failure = Failure(
            message=message or f"{outcome} {nodeid}", phase=phase, traceback=list(traceback)
        )
    return TestResult(
        test=TestId(
            nodeid=nodeid,
            path=path,
            line=line,
            # A collection error is named after its file, as the plugin records it.
            name=Path(path).name if kind is ResultKind.COLLECTION_ERROR else nodeid.split("::")[-1],
        ),
        kind=kind,
        outcome=Outcome(outcome),
        reason=reason,
        failures=[failure] if failure else [],
        duration=duration,
        started_at=start,
        finished_at=start + timedelta(seconds=duration),
        steps=list(steps),
        metadata=list(metadata),
        tags=list(tags),
        attempt=attempt,
        final=final,
        worker=worker,
    )


@dataclass
class Recorded:
    """A session as written: its local row id, uuid and model."""

    id: int
    uuid: str
    session: Session


def record(
    path: Path,
    results: Sequence[TestResult],
    *,
    branch: Optional[str] = "main",
    revision: Optional[str] = "0123456789abcdef",
    provider: str = "none",
    run_url: Optional[str] = None,
    started: datetime = T0,
    duration: float = 12.5,
    close: bool = True,
    interruption: Optional[str] = None,
    batch: int = 0,
    run_id: Optional[str] = None,
) -> Recorded:
    """Write one session; ``close=False`` leaves it as a killed run leaves it (``in_progress``)."""
    session = Session(
        started_at=started,
        ci=CIInfo(
            provider=provider, branch=branch, revision=revision, run_url=run_url, run_id=run_id
        ),
    )
    target = LocalTarget(path)
    target.open_session(session)
    size = batch or max(len(results), 1)
    for start in range(0, len(results), size):
        chunk = list(results[start : start + size])
        target.send_batch(session, chunk, {})
        for result in chunk:
            session.count(result)
    assert target.session_id is not None
    if close:
        session.finish(interruption)
        session.finished_at = started + timedelta(seconds=duration)
        target.close_session(session)
    else:
        # A killed process: its connection goes away without closing the session.
        target._require_conn().close()
    return Recorded(target.session_id, session.uuid, session)


def history(path: Path, runs: Sequence[dict[str, str]], **kwargs: object) -> list[Recorded]:
    """One session per mapping of node id -> outcome, oldest first, one minute apart."""
    return [
        record(
            path,
            [make_result(nodeid, outcome) for nodeid, outcome in run.items()],
            started=T0 + timedelta(minutes=i),
            **kwargs,  # type: ignore[arg-type]
        )
        for i, run in enumerate(runs)
    ]


class SampleStore:
    """Three sessions: 1 on main (closed, with reruns), 2 on feature (CI), 3 on main (killed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        step_start = T0 + timedelta(seconds=1)
        outer = Step(text="open page", keyword="Given", started_at=step_start,
                     finished_at=step_start + timedelta(seconds=2))  # fmt: skip
        inner = Step(parent_id=outer.id, text="click", started_at=step_start + timedelta(seconds=1),
                     finished_at=None, result="failed", failure="boom")  # fmt: skip
        self.steps = (outer, inner)
        self.first: Recorded = record(
            path,
            [
                make_result(
                    "tests/test_a.py::test_ok",
                    duration=0.5,
                    line=3,
                    worker="gw0",
                    metadata=[("owner", "ann"), ("link", "x"), ("link", "y")],
                    tags=["smoke", "db"],
                    steps=[inner, outer],
                ),
                make_result(
                    "tests/test_a.py::test_rerun", "failed", attempt=1, final=False, message="flake"
                ),
                make_result("tests/test_a.py::test_rerun", attempt=2, duration=0.25),
                make_result(
                    "tests/test_a.py::test_bad",
                    "failed",
                    line=20,
                    traceback=["tb 1", "tb 2"],
                    message="AssertionError: assert 1 == 2\nsecond line",
                ),
                make_result(
                    "tests/test_b.py",
                    "error",
                    kind=ResultKind.COLLECTION_ERROR,
                    line=None,
                    phase="collect",
                    message="ImportError: nope",
                ),
                make_result("tests/test_a.py::test_skip", "skipped", reason="no db"),
                make_result("tests/test_a.py::test_xf", "xfailed", reason="bug 7"),
            ],
            batch=3,
        )
        self.second = record(
            path,
            [make_result("tests/test_a.py::test_ok", duration=0.75)],
            branch="feature",
            revision="fedcba9876543210",
            provider="github",
            run_url="https://ci.example/run/2",
            started=T0 + timedelta(hours=1),
            duration=3,
        )
        self.third = record(
            path,
            [
                make_result("tests/test_a.py::test_ok"),
                make_result("tests/test_a.py::test_bad", "failed"),
            ],
            started=T0 + timedelta(hours=2),
            close=False,
        )


def write_flips(path: Path) -> None:
    """Six sessions on main (plus one with a rerun) and four on dev, for ``flaky``."""
    t1, t2, t3 = "t.py::one", "t.py::two", "t.py::three"
    history(path, [{t1: "passed", t2: "passed", t3: "failed"},
                   {t1: "failed", t2: "passed", t3: "failed"},
                   {t1: "passed", t2: "xfailed", t3: "error"},
                   {t1: "skipped", t2: "passed", t3: "failed"},
                   {t1: "error", t2: "passed", t3: "failed"},
                   {t1: "xpassed", t2: "passed", t3: "passed"}])  # fmt: skip
    # A rerun inside one session flips too: failed then passed.
    rerun = [
        make_result("t.py::rerun", "failed", final=False),
        make_result("t.py::rerun", attempt=2),
    ]
    record(path, rerun, started=T0 + timedelta(hours=1))
    # Another branch, which --branch must leave out.
    history(path, [{t3: "failed"}, {t3: "passed"}, {t3: "failed"}, {t3: "passed"}], branch="dev")


def write_timings(path: Path) -> None:
    """Three sessions with known durations, for ``slow``."""
    for i, (slow, mid, even) in enumerate([(1.0, 2.0, 1.0), (5.0, 2.0, 2.0), (3.0, 10.0, 3.0)]):
        results = [
            make_result("t.py::slow", duration=slow),
            make_result("t.py::mid", duration=mid),
            make_result("t.py::fast", duration=0.01),
            # A slow first attempt that was rerun: only final attempts count.
            make_result("t.py::rerun", "failed", duration=100.0, final=False),
            make_result("t.py::rerun", duration=0.2, attempt=2),
        ]
        if i:
            results.append(make_result("t.py::even", duration=even))
        record(path, results, started=T0 + timedelta(hours=i))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)
