"""``pytest-testreport replay``: deliver spooled items, in order, acknowledging each one.

Every entry is sent through the same target code and HTTP policy as during the run. An entry
is acknowledged in the journal only after the service confirmed it, so a replay that stops
half-way (or is killed) can be run again and sends only what is left.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..model import Session
from .errors import DeliveryError
from .limits import Deadline
from .spool import Journal, SpoolError, SpoolFile, find_journals, lock_exclusive, read_journal
from .target import Target

SPOOL_ENV = "TESTREPORT_SPOOL_DIR"
DEFAULT_SPOOL = Path(".testreport") / "spool"

TargetFactory = Callable[[str, Mapping[str, str]], Target]


class SpoolNotFound(Exception):
    """No spool directory where we looked."""


def find_spool(cwd: Path, explicit: Optional[str], env: Mapping[str, str]) -> Path:
    """``--spool DIR``, ``TESTREPORT_SPOOL_DIR``, or ``.testreport/spool`` upwards."""
    for value in (explicit, env.get(SPOOL_ENV)):
        if value:
            path = cwd / Path(value).expanduser()
            if not path.is_dir():
                raise SpoolNotFound(f"no spool directory at {path}")
            return path
    for directory in (cwd, *cwd.parents):
        if (directory / DEFAULT_SPOOL).is_dir():
            return directory / DEFAULT_SPOOL
    return cwd / DEFAULT_SPOOL  # absent: replay says there is nothing to send


@dataclass
class Outcome:
    path: Path
    target: str
    results: int
    delivered: int = 0
    error: Optional[str] = None

    @property
    def done(self) -> bool:
        return self.error is None


def describe(spooled: SpoolFile) -> list[str]:
    """What a journal holds, for ``--dry-run``."""
    lines = [f"{spooled.path.name}: {spooled.target}, session {spooled.session.uuid}"]
    for entry in spooled.pending:
        if entry.kind == "results":
            count = len(entry.data.get("results", ()))
            lines.append(f"  #{entry.entry} {count} results ({entry.data.get('error') or '-'})")
        else:
            lines.append(f"  #{entry.entry} {entry.kind} the session")
    return lines


def replay_journal(spooled: SpoolFile, target: Target) -> Outcome:
    """Deliver one journal's pending entries in order; stop at the first failure."""
    outcome = Outcome(spooled.path, spooled.target, spooled.pending_results)
    journal = Journal.reopen(spooled)
    target.bind(Deadline())
    session: Session = spooled.session
    try:
        if not any(e.kind == "open" for e in spooled.pending):
            target.resume(spooled.state, session)
        for entry in spooled.pending:
            if entry.kind == "open":
                target.open_session(session)
                journal.set_state(target.state())
            elif entry.kind == "results":
                results = entry.results()
                try:
                    target.send_batch(session, results, entry.progress)
                finally:
                    journal.progress(entry.entry, entry.progress)
                outcome.delivered += len(results)
            else:
                target.close_session(entry.session())
            journal.ack(entry.entry)
    except DeliveryError as exc:
        outcome.error = str(exc)
    except (OSError, KeyError, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    finally:
        journal.close()
        target.release()
    if outcome.done:
        spooled.path.unlink()
    return outcome


def replay(
    spool_dir: Path,
    make_target: TargetFactory,
    *,
    target: Optional[str] = None,
    dry_run: bool = False,
    env: Optional[Mapping[str, str]] = None,
    echo: Callable[[str], None] = print,
) -> int:
    """Replay every journal (of one target); returns the CLI's exit code."""
    env = os.environ if env is None else env
    paths = find_journals(spool_dir, target)
    if not paths:
        where = spool_dir if spool_dir.is_dir() else f"{spool_dir} (or in any parent directory)"
        echo(f"nothing to replay in {where}")
        return 0
    failed = 0
    for path in paths:
        try:
            spooled = read_journal(path)
        except (SpoolError, OSError) as exc:
            echo(f"{path.name}: cannot read: {exc}")
            failed += 1
            continue
        if dry_run:
            for line in describe(spooled):
                echo(line)
            continue
        with lock_exclusive(path) as locked:
            if not locked:
                echo(f"{path.name}: in use by a running pytest; skipped")
                failed += 1
                continue
            try:
                outcome = replay_journal(spooled, make_target(spooled.target, env))
            except Exception as exc:  # building the target failed: say why, keep the journal
                echo(f"{path.name}: {spooled.target}: {exc}")
                failed += 1
                continue
        if outcome.done:
            echo(f"{path.name}: delivered {outcome.delivered} results; journal removed")
        else:
            failed += 1
            echo(
                f"{path.name}: delivered {outcome.delivered} of {outcome.results} results, "
                f"then: {outcome.error}; run replay again to continue"
            )
    return 1 if failed else 0
