"""``pytest-testreport replay``: deliver spooled items, in order, acknowledging each one.

Every entry is sent through the same target code and HTTP policy as during the run. An entry
is acknowledged in the journal only after the service confirmed it, so a replay that stops
half-way (or is killed) can be run again and sends only what is left. One journal never stops
the others: a damaged one delivers what can be read, closes its session and is renamed aside
(``*.jsonl.damaged``) for a human to look at.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..model import Session
from ..paths import SPOOL
from .errors import DeliveryError
from .limits import Deadline
from .spool import (
    DamagedJournal,
    Journal,
    SpoolError,
    SpoolFile,
    find_journals,
    lock_exclusive,
    read_journal,
)
from .target import Target

SPOOL_ENV = "TESTREPORT_SPOOL_DIR"
DEFAULT_SPOOL = SPOOL

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
    opened: bool = False  # replay opened the session itself
    closed_lost: bool = False  # replay closed a session whose close entry was not readable

    @property
    def done(self) -> bool:
        return self.error is None


def describe(spooled: SpoolFile) -> list[str]:
    """What a journal holds, for ``--dry-run``."""
    lines = [f"{spooled.path.name}: {spooled.target}, session {spooled.session.uuid}"]
    lines.extend(f"  cannot read {problem}" for problem in spooled.damaged)
    for entry in spooled.pending:
        if entry.kind == "results":
            count = len(entry.data.get("results", ()))
            lines.append(f"  #{entry.entry} {count} results ({entry.data.get('error') or '-'})")
        else:
            lines.append(f"  #{entry.entry} {entry.kind} the session")
    return lines


def _reach(spooled: SpoolFile, target: Target, journal: Journal, outcome: Outcome) -> None:
    """Resume the session the run opened; open it when the run never heard that it was.

    No open entry and no state: the run's open was still waiting for its answer at the
    end-of-run deadline, so nothing says the session exists (a target that keeps no state
    needs none to resume).
    """
    if any(entry.kind == "open" for entry in spooled.pending):
        return  # opened in order with the other entries
    if spooled.state or type(target).state is Target.state:
        target.resume(spooled.state, spooled.session)
        return
    target.open_session(spooled.session)
    journal.set_state(target.state())
    outcome.opened = True


def lost_close(spooled: SpoolFile, why: str) -> Session:
    """The session to close with when the journal's own close cannot be read (or never came)."""
    session = spooled.session.model_copy(deep=True)
    for result in spooled.readable_results():
        session.count(result)
    session.finish(interruption=f"interrupted: {why}")
    return session


def replay_journal(spooled: SpoolFile, target: Target) -> Outcome:
    """Deliver one journal's pending entries in order; stop at the first failure.

    A journal without a readable close, when it is damaged or replay opened its session, has
    its session closed last all the same: nobody else ever will.
    """
    outcome = Outcome(spooled.path, spooled.target, spooled.pending_results)
    journal = Journal.reopen(spooled)
    target.bind(Deadline())
    try:
        _reach(spooled, target, journal, outcome)
        for entry in spooled.pending:
            if entry.kind == "open":
                target.open_session(spooled.session)
                journal.set_state(target.state())
                outcome.opened = True
            elif entry.kind == "results":
                results = entry.results()
                try:
                    target.send_batch(spooled.session, results, entry.progress)
                finally:
                    journal.progress(entry.entry, entry.progress)
                outcome.delivered += len(results)
            else:
                target.close_session(entry.session())
            journal.ack(entry.entry)
        if not spooled.closes and (spooled.damaged or outcome.opened):
            why = "its spool journal was damaged" if spooled.damaged else "the run never closed it"
            target.close_session(lost_close(spooled, why))
            outcome.closed_lost = True
    except DeliveryError as exc:
        outcome.error = str(exc)
    except (OSError, KeyError, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    finally:
        journal.close()
        target.release()
    return outcome


def set_aside(path: Path) -> Path:
    """Rename a damaged journal out of replay's way (``*.jsonl.damaged``), never over another."""
    aside = path.with_name(path.name + ".damaged")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.{number}.damaged")
    path.rename(aside)
    return aside


def _report(spooled: SpoolFile, outcome: Outcome) -> tuple[bool, str]:
    """Finish with a replayed journal: (fully delivered, the line to print)."""
    name = spooled.path.name
    unread = f"could not read {'; '.join(spooled.damaged)}; " if spooled.damaged else ""
    if not outcome.done:
        return False, (
            f"{name}: {unread}delivered {outcome.delivered} of {outcome.results} results, "
            f"then: {outcome.error}; run replay again to continue"
        )
    closed = " and closed its session" if outcome.closed_lost else ""
    if not spooled.damaged:
        spooled.path.unlink()
        return True, f"{name}: delivered {outcome.delivered} results{closed}; journal removed"
    aside = set_aside(spooled.path)
    return False, (
        f"{name}: {unread}delivered {outcome.delivered} results from the rest{closed}; "
        f"journal kept as {aside.name}"
    )


def _read(path: Path, echo: Callable[[str], None]) -> Optional[SpoolFile]:
    """The journal, or None after saying why it cannot be replayed (a damaged one is set
    aside; one of another spool version stays for the version that wrote it)."""
    try:
        return read_journal(path)
    except DamagedJournal as exc:
        echo(f"{path.name}: cannot read: {exc}; journal kept as {set_aside(path).name}")
    except (SpoolError, OSError) as exc:
        echo(f"{path.name}: cannot read: {exc}")
    return None


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
        spooled = _read(path, echo)
        if spooled is None:
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
            done, line = _report(spooled, outcome)
        echo(line)
        failed += not done
    return 1 if failed else 0
