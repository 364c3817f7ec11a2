"""``pytest-testreport import``: JUnit XML files into the local store, one session per file.

Idempotent: a session's uuid is derived from the file's bytes (and each result's from the
session's and its position), so importing a file again finds its session and adds nothing; an
import that was interrupted is completed. The files are only read.
"""

from __future__ import annotations

import hashlib
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

from .ci import CIInfo
from .junit_xml import Case, JUnitError, combine, parse_xml, read_case, seconds
from .model import Session, SessionStatus, TestId, TestResult
from .reading import parse_time
from .targets.local.target import LocalTarget, connect

_NAMESPACE = uuid.UUID("6f1c2d1e-8a55-4b8e-9d1f-3c2a7e5b9a10")  # ours; never change it
BATCH = 500


@dataclass
class Origin:
    """What the import says about the run that the file does not: its branch, revision, CI run."""

    branch: Optional[str] = None
    revision: Optional[str] = None
    run_id: Optional[str] = None
    root: Optional[Path] = None  # where test modules are looked up to find node ids


@dataclass
class ImportedRun:
    """A file read: its session (still open), its results, and when it ended."""

    session: Session
    results: list[TestResult]
    finished_at: datetime


@dataclass
class Imported:
    """What became of one file: ``imported``, ``present`` (imported before) or ``error``."""

    file: str
    status: str
    session: Optional[int] = None
    uuid: Optional[str] = None
    error: Optional[str] = None
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "status": self.status, "session": self.session,
                "uuid": self.uuid, "error": self.error, **self.counts}  # fmt: skip


def _suites(root: ET.Element, name: str) -> list[ET.Element]:
    """A bare ``<testsuite>`` or a ``<testsuites>`` wrapper; nested suites included."""
    if root.tag in ("testsuite", "testsuites"):
        return list(root.iter("testsuite"))
    raise JUnitError(f"{name}: not JUnit XML (the root element is <{root.tag}>)")


def _cases(suites: list[ET.Element], root: Optional[Path]) -> list[Case]:
    """Every test case once, in file order; a test listed twice is combined."""
    cases: dict[str, Case] = {}
    for suite in suites:
        for element in suite.findall("testcase"):  # direct children: nested suites come later
            case = read_case(element, root)
            known = cases.pop(case.nodeid, None)
            cases[case.nodeid] = combine(known, case) if known else case
    return list(cases.values())


def _timespan(
    suites: list[ET.Element], cases: list[Case], fallback: datetime
) -> tuple[datetime, datetime]:
    """When the run started and ended: the suites' timestamps and times, else ``fallback``."""
    spans = []
    for suite in suites:
        start = parse_time(suite.get("timestamp"))
        if start is not None:
            spans.append((start, start + timedelta(seconds=seconds(suite.get("time")))))
    if spans:
        return min(s for s, _ in spans), max(e for _, e in spans)
    total = sum(c.final.duration + sum(e.duration for e in c.earlier) for c in cases)
    return fallback, fallback + timedelta(seconds=total)


def _results(cases: list[Case], session_uuid: str, start: datetime) -> list[TestResult]:
    """Results in file order, each attempt starting when the one before it ended (an estimate)."""
    results: list[TestResult] = []
    clock = start
    for case in cases:
        attempts = [*case.earlier, case.final]
        for number, attempt in enumerate(attempts, 1):
            end = clock + timedelta(seconds=attempt.duration)
            results.append(
                TestResult(
                    test=TestId(nodeid=case.nodeid, path=case.path, name=case.name,
                                line=case.line),
                    outcome=attempt.outcome, started_at=clock, finished_at=end,
                    uuid=str(uuid.uuid5(_NAMESPACE, f"{session_uuid}/{len(results)}")),
                    kind=case.kind, reason=attempt.reason,
                    failures=[attempt.failure] if attempt.failure else [],
                    duration=attempt.duration, stdout=attempt.stdout, stderr=attempt.stderr,
                    log=attempt.log, metadata=list(case.metadata), attempt=number,
                    final=number == len(attempts),
                )
            )  # fmt: skip
            clock = end
    return results


def read_file(path: Path, origin: Origin) -> ImportedRun:
    """A JUnit XML file as one session; raises ``JUnitError`` (or ``OSError``)."""
    data = path.read_bytes()
    root = parse_xml(data, path.name)
    suites = _suites(root, path.name)
    cases = _cases(suites, origin.root)
    mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    started, finished = _timespan(suites, cases, mtime)
    session_uuid = str(uuid.uuid5(_NAMESPACE, "junit:" + hashlib.sha256(data).hexdigest()))
    ci = CIInfo(branch=origin.branch, revision=origin.revision, run_id=origin.run_id,
                extra={"imported_from": path.name})  # fmt: skip
    hosts = [s.get("hostname") for s in suites if s.get("hostname")]
    session = Session(
        uuid=session_uuid, started_at=started, ci=ci, hostname=hosts[0] if hosts else ""
    )
    results = _results(cases, session_uuid, started)
    return ImportedRun(session, results, finished)


def _existing(store: Path, session_uuid: str) -> Optional[tuple[int, str]]:
    conn = connect(store, create=True)
    try:
        row = conn.execute(
            "SELECT id, status FROM sessions WHERE uuid = ?", (session_uuid,)
        ).fetchone()
    finally:
        conn.close()
    return (row["id"], row["status"]) if row else None


def write_run(store: Path, run: ImportedRun) -> tuple[int, bool]:
    """Write ``run`` through the local target; ``(session id, whether anything was added)``."""
    session = run.session
    found = _existing(store, session.uuid)
    if found is not None and found[1] != SessionStatus.IN_PROGRESS.value:
        return found[0], False
    target = LocalTarget(store)
    if found is not None:  # an import that stopped half-way: add what is missing, then close
        target.resume({"session_id": found[0]}, session)
    else:
        target.open_session(session)
    try:
        for start in range(0, len(run.results), BATCH):
            target.send_batch(session, run.results[start : start + BATCH], {})
        for result in run.results:
            session.count(result)
        session.finish()
        session.finished_at = run.finished_at
        target.close_session(session)
    finally:
        target.release()
    assert target.session_id is not None
    return target.session_id, True


def import_file(store: Path, path: Path, origin: Origin) -> Imported:
    """Import one file; a file that cannot be read is reported, never raised."""
    try:
        run = read_file(path, origin)
    except JUnitError as exc:
        return Imported(str(path), "error", error=str(exc))
    except OSError as exc:
        return Imported(str(path), "error", error=f"{path}: cannot read: {exc.strerror or exc}")
    session_id, added = write_run(store, run)
    s = run.session
    counts = {"tests_count": s.tests_count, "failed_count": s.failed_count,
              "error_count": s.error_count, "skipped_count": s.skipped_count}  # fmt: skip
    if not added:
        counts = {}
    return Imported(str(path), "imported" if added else "present", session_id, s.uuid, None, counts)
