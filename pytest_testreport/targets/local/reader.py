"""Reads the local SQLite store for the CLI and for ``--testreport-failed-from=local``."""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ...config import usage_error
from ...model import COUNT_FIELDS, Outcome
from ...ranking import flaky_evidence, slow_trend
from ...reading import (
    LATEST,
    FailedTests,
    Json,
    Reader,
    failure_object,
    flaky_object,
    history_object,
    not_found,
    result_object,
    session_object,
    slow_object,
    sort_flaky,
    step_object,
)
from . import runs as local_runs
from .schema import DEFAULT_PATH, StoreDamaged, StoreError, connect, is_damage

if TYPE_CHECKING:
    from ...config import Settings

ENV_PATH = "TESTREPORT_LOCAL_PATH"
HOW_TO_CREATE = "record a run with `pytest --testreport` to create one"
_COUNTED = ("passed", "xpassed", "failed", "error")  # outcomes that can flip
_FAILED_SQL = "final = 1 AND outcome IN (?, ?)"


FAILED_OUTCOMES = (Outcome.FAILED.value, Outcome.ERROR.value)


class StoreNotFound(StoreError):
    """No store where the CLI looked; the message says where and how to create one."""


def find_store(cwd: Path, explicit: Optional[str], env: Mapping[str, str]) -> Path:
    """The store: ``--store PATH``, ``TESTREPORT_LOCAL_PATH``, or ``.testreport/`` upwards."""
    if explicit:
        path = _existing(cwd / Path(explicit).expanduser())
        if path is None:
            raise StoreNotFound(f"no store at {cwd / Path(explicit).expanduser()}; {HOW_TO_CREATE}")
        return path
    from_env = env.get(ENV_PATH, "").strip()
    if from_env:
        wanted = Path(from_env).expanduser()
        # The plugin reads a relative path against the rootdir, an ancestor of where we run.
        places = [wanted] if wanted.is_absolute() else [d / wanted for d in (cwd, *cwd.parents)]
        for place in places:
            path = _existing(place)
            if path is not None:
                return path
        where = wanted if wanted.is_absolute() else f"{wanted} in {cwd} and its parents"
        raise StoreNotFound(f"no store at {where} (from {ENV_PATH}); {HOW_TO_CREATE}")
    for directory in (cwd, *cwd.parents):
        if (directory / DEFAULT_PATH).is_file():
            return directory / DEFAULT_PATH
    raise StoreNotFound(
        f"no store found: looked for {DEFAULT_PATH} in {cwd} and its parents "
        f"(--store and {ENV_PATH} not set); {HOW_TO_CREATE}"
    )


def _existing(path: Path) -> Optional[Path]:
    """The store file at ``path``, or inside it when ``path`` is a ``.testreport`` directory."""
    if path.is_file():
        return path
    if path.is_dir() and (path / DEFAULT_PATH.name).is_file():
        return path / DEFAULT_PATH.name
    return None


class LocalReader(Reader):
    """Answers the CLI's questions from the store; opening it migrates it, never creates it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path, create=False)

    def close(self) -> None:
        self._conn.close()

    def __exit__(self, *exc: object) -> None:
        """A damaged page met by a query: name the store and the way out."""
        self.close()
        if is_damage(exc[1]):  # type: ignore[arg-type]
            raise StoreDamaged(self.path, str(exc[1])) from exc[1]  # type: ignore[misc]

    def describe(self) -> str:
        return str(self.path)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalReader:
        return cls(settings.local_path)

    @classmethod
    def failed_from(cls, settings: Settings, ref: Optional[str]) -> FailedTests:
        """``--testreport-failed-from=local[:SESSION]``; default: the newest closed session on
        the current branch."""
        spec = settings.failed_from
        if not settings.local_path.exists():
            raise usage_error(
                f"testreport: --testreport-failed-from={spec}: no local store at "
                f"{settings.local_path}; record a run first with pytest --testreport"
            )
        with cls.from_settings(settings) as reader:
            if ref:
                try:
                    session_id: Optional[int] = reader.session(ref, None)["id"]
                except Exception as exc:
                    raise usage_error(
                        f"testreport: --testreport-failed-from={spec}: {exc}"
                    ) from None
                nodeids = [t["nodeid"] for t in reader.failed(ref, None)]
            else:
                session_id, nodeids = reader.failed_for_rerun(settings.ci().branch)
        if session_id is None:
            return FailedTests("testreport: no earlier local session; running all tests")
        if not nodeids:
            return FailedTests(
                f"testreport: nothing failed in local session {session_id}; running all tests"
            )
        return FailedTests(
            f"testreport: running the {len(nodeids)} tests that failed or errored "
            f"in local session {session_id}",
            nodeids,
        )

    # -- sessions ---------------------------------------------------------------------------

    def list_sessions(self, branch: Optional[str], page: int, per_page: int) -> list[Json]:
        # One row per logical run: sessions sharing a CI run id are joined (runs.py).
        return local_runs.list_rows(self._conn, branch, page, per_page, _session)

    def session(self, ref: str, branch: Optional[str]) -> Json:
        if local_runs.is_run_ref(ref):
            return self._run(ref, branch)[0]
        return _session(self._resolve(ref, branch))

    def get_session(self, ref: str, branch: Optional[str]) -> Json:
        if local_runs.is_run_ref(ref):
            run, ids = self._run(ref, branch)
            return {**run, "tests": self._run_tests(ids, failed_only=False)}
        row = self._resolve(ref, branch)
        session = _session(row)
        session["tests"] = self._tests(row["id"], failed_only=False)
        return session

    def failed(self, ref: str, branch: Optional[str]) -> list[Json]:
        if local_runs.is_run_ref(ref):
            return self._run_tests(self._run(ref, branch)[1], failed_only=True)
        return self._tests(self._resolve(ref, branch)["id"], failed_only=True)

    def _run(self, ref: str, branch: Optional[str]) -> tuple[Json, list[int]]:
        """The joined session object of ``run:<id>`` and its member session ids."""
        rows = local_runs.resolve(self._conn, ref, branch, self.describe())
        run_id = ref[len(local_runs.RUN_PREFIX) :]
        return local_runs.join([_session(r) for r in rows], run_id), [r["id"] for r in rows]

    def _run_tests(self, ids: list[int], *, failed_only: bool) -> list[Json]:
        """Tests of several sessions, each marked with its ``session_id``."""
        return [{**test, "session_id": session_id} for session_id in ids
                for test in self._tests(session_id, failed_only=failed_only)]  # fmt: skip

    def failed_for_rerun(
        self, branch: Optional[str], exclude_uuid: Optional[str] = None
    ) -> tuple[Optional[int], list[str]]:
        """The newest closed session (on ``branch``) and the node ids whose final attempt failed."""
        where, params = _branch_filter(branch)
        where += (" AND " if where else "WHERE ") + "status != 'in_progress'"
        if exclude_uuid is not None:
            where += " AND uuid != ?"
            params.append(exclude_uuid)
        row = self._conn.execute(
            f"SELECT id FROM sessions {where} ORDER BY id DESC LIMIT 1", params
        ).fetchone()
        if row is None:
            return None, []
        rows = self._conn.execute(
            f"SELECT nodeid FROM results WHERE session_id = ? AND {_FAILED_SQL} ORDER BY id",
            (row["id"], *FAILED_OUTCOMES),
        )
        # A collection error reported by several workers is stored once, but be safe.
        return row["id"], list(dict.fromkeys(r["nodeid"] for r in rows))

    # -- history ----------------------------------------------------------------------------

    def flaky(self, last: int, min_flips: int, branch: Optional[str]) -> list[Json]:
        recent, params = _recent_sessions(branch, last)
        # Sorted in SQL and streamed one test at a time, so memory stays bounded.
        rows = self._conn.execute(
            "SELECT nodeid, session_id, outcome, attempt FROM results"
            f" WHERE session_id IN ({recent}) AND outcome IN ({', '.join('?' * len(_COUNTED))})"
            " ORDER BY nodeid, session_id, attempt, id",
            (*params, *_COUNTED),
        )
        found = []
        for nodeid, group in groupby(rows, key=lambda r: r["nodeid"]):
            history = [(r["session_id"], r["outcome"], r["attempt"]) for r in group]
            row = flaky_object(nodeid, [o for _, o, _ in history], len({s for s, _, _ in history}))
            if row["flips"] >= min_flips:
                found.append({**row, **flaky_evidence(history)})
        return sort_flaky(found)

    def slow(self, top: int, last: int, branch: Optional[str]) -> list[Json]:
        recent, params = _recent_sessions(branch, last)
        rows = self._conn.execute(
            "SELECT nodeid, session_id, duration FROM results"
            f" WHERE session_id IN ({recent}) AND final = 1 ORDER BY nodeid, session_id, id",
            params,
        )
        # nlargest keeps only the current top N while streaming; groups arrive in node id order
        # and nlargest is stable, so on equal medians the smaller node id ranks first.
        groups = ((n, [(r["session_id"], r["duration"]) for r in g])
                  for n, g in groupby(rows, key=lambda r: r["nodeid"]))  # fmt: skip
        medians = ({**slow_object(n, [d for _, d in p]), **slow_trend(p)} for n, p in groups)
        return heapq.nlargest(top, medians, key=lambda row: row["median_duration"])

    def history(self, nodeid: str, last: int, branch: Optional[str]) -> list[Json]:
        where, params = ("AND s.branch = ?", [branch]) if branch is not None else ("", [])
        rows = self._conn.execute(
            "SELECT s.id, s.uuid, s.branch, s.revision, s.started_at, r.outcome, r.duration,"
            " r.attempt, r.failure_message FROM results r JOIN sessions s ON s.id = r.session_id"
            f" WHERE r.nodeid = ? AND r.final = 1 {where} ORDER BY s.id DESC, r.id DESC LIMIT ?",
            (nodeid, *params, last),
        )
        return [
            history_object(
                session_id=row["id"], session_uuid=row["uuid"], branch=row["branch"],
                revision=row["revision"], started_at=row["started_at"], outcome=row["outcome"],
                duration=row["duration"], attempts=row["attempt"], message=row["failure_message"],
            )
            for row in rows
        ]  # fmt: skip

    # -- helpers ----------------------------------------------------------------------------

    def _resolve(self, ref: str, branch: Optional[str]) -> sqlite3.Row:
        """The session row ``ref`` names: ``latest``, a row id, or a session uuid."""
        if ref == LATEST:
            where, params = _branch_filter(branch)
            sql = f"SELECT * FROM sessions {where} ORDER BY id DESC LIMIT 1"
        elif ref.isdigit():
            sql, params = "SELECT * FROM sessions WHERE id = ?", [int(ref)]
        else:
            sql, params = "SELECT * FROM sessions WHERE uuid = ?", [ref]
        row = self._conn.execute(sql, params).fetchone()
        if row is None or (branch is not None and row["branch"] != branch):
            raise not_found(ref, branch, self.describe())
        return row

    def _tests(self, session_id: int, *, failed_only: bool) -> list[Json]:
        """Test objects of one session (all attempts, or final failed ones), in stored order."""
        where, params = "session_id = ?", [session_id]
        if failed_only:
            where += f" AND {_FAILED_SQL}"
            params.extend(FAILED_OUTCOMES)
        ids = f"SELECT id FROM results WHERE {where}"
        steps = self._children(
            f"SELECT * FROM steps WHERE result_id IN ({ids}) ORDER BY result_id, position", params
        )
        metadata = self._children(
            f"SELECT * FROM metadata WHERE result_id IN ({ids}) ORDER BY result_id, position",
            params,
        )
        tags = self._children(
            f"SELECT * FROM tags WHERE result_id IN ({ids}) ORDER BY result_id, rowid", params
        )
        rows = self._conn.execute(f"SELECT * FROM results WHERE {where} ORDER BY id", params)
        return [
            _result(
                row,
                [_step(s) for s in steps.get(row["id"], ())],
                [(m["key"], m["value"]) for m in metadata.get(row["id"], ())],
                [t["tag"] for t in tags.get(row["id"], ())],
            )
            for row in rows
        ]

    def _children(self, sql: str, params: list[Any]) -> dict[int, list[sqlite3.Row]]:
        grouped: dict[int, list[sqlite3.Row]] = defaultdict(list)
        for row in self._conn.execute(sql, params):
            grouped[row["result_id"]].append(row)
        return grouped


def _branch_filter(branch: Optional[str]) -> tuple[str, list[Any]]:
    return ("WHERE branch = ?", [branch]) if branch is not None else ("", [])


def _recent_sessions(branch: Optional[str], last: int) -> tuple[str, list[Any]]:
    """A subquery for the ids of the newest ``last`` sessions (on ``branch``)."""
    where, params = _branch_filter(branch)
    return f"SELECT id FROM sessions {where} ORDER BY id DESC LIMIT ?", [*params, last]


def _ci(raw: Optional[str]) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _session(row: sqlite3.Row) -> Json:
    ci = _ci(row["ci"])
    return session_object(
        id=row["id"],
        uuid=row["uuid"],
        status=row["status"],
        error_message=row["error_message"],
        branch=row["branch"],
        revision=row["revision"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        counts=[row[c] for c in COUNT_FIELDS],
        ci_provider=ci.get("provider"),
        run_url=ci.get("run_url"),
    )


def _step(row: sqlite3.Row) -> Json:
    return step_object(
        id=row["uuid"],
        parent_id=row["parent_uuid"],
        keyword=row["keyword"],
        text=row["text"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=row["result"],
        failure=row["failure"],
    )


def _traceback(raw: Optional[str]) -> list[str]:
    return raw.split("\n") if raw else []


def _result(
    row: sqlite3.Row, steps: list[Json], metadata: list[tuple[str, str]], tags: list[str]
) -> Json:
    return result_object(
        nodeid=row["nodeid"],
        name=row["name"],
        path=row["path"],
        line=row["line"],
        kind=row["kind"],
        outcome=row["outcome"],
        reason=row["reason"],
        duration=row["duration"],
        attempt=row["attempt"],
        final=bool(row["final"]),
        worker=row["worker"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        failure=failure_object(
            row["failure_message"], row["failure_phase"], _traceback(row["failure_traceback"])
        ),
        steps=steps,
        metadata=metadata,
        tags=tags,
    )
