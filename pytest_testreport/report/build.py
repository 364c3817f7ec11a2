"""Builds a report file: store -> data -> page; and the remote targets' delivery notes.

The store records sessions and results, not what the remote targets did with them. At the end
of a run, ``save_deliveries`` writes one small JSON file per session next to the store
(``deliveries/<session uuid>.json``: each remote target's link, counts and spool journal);
a report built later reads it, and a journal that ``replay`` has since emptied reads as
delivered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from ..reading import Json
from ..targets.local.reader import LocalReader
from .data import page_data
from .render import render, write_atomically

DELIVERIES = "deliveries"


def write_report(
    reader: LocalReader, output: Path, ref: str, last: int, branch: Optional[str]
) -> Json:
    """Write the report of session ``ref`` (or of the logical run ``run:<id>``) to ``output``;
    returns the session object."""
    session = reader.session(ref, branch)
    if session.get("run"):
        targets = _run_deliveries(reader, session["sessions"])
    else:
        targets = load_deliveries(reader.path, session["uuid"])
    data = page_data(reader, session, last, branch, targets)
    write_atomically(output, render(data))
    return data["session"]


def _run_deliveries(reader: LocalReader, ids: list[int]) -> list[Json]:
    """Each shard's own remote targets, marked with the shard's session id."""
    out = []
    for session_id in ids:
        uuid = reader.session(str(session_id), None)["uuid"]
        out += [{**note, "session": session_id} for note in load_deliveries(reader.path, uuid)]
    return out


def _notes_path(store: Path, uuid: str) -> Path:
    return store.parent / DELIVERIES / f"{uuid}.json"


def save_deliveries(store: Path, uuid: str, states: Iterable[Any]) -> None:
    """Record what each remote target of the run did (``states``: the engine's SenderStates)."""
    notes = []
    for state in states:
        if state.target == "local":
            continue
        journal = state.spool_path  # the target's journal of this session, once it spooled
        notes.append(
            {
                "target": state.target,
                "link": state.link,
                "delivered": state.delivered,
                "spooled": state.spooled,
                "lost": state.lost + state.unknown,
                "closed": bool(state.closed),
                "close_spooled": bool(state.close_spooled),
                "journal": str(journal) if journal else None,
            }
        )
    if notes:
        path = _notes_path(store, uuid)
        write_atomically(path, json.dumps(notes, indent=1))


def load_deliveries(store: Path, uuid: str) -> list[Json]:
    """The remote targets of session ``uuid`` with a status: delivered, spooled, or lost."""
    path = _notes_path(store, uuid)
    try:
        notes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # no remote target, or a run from before these notes existed
    if not isinstance(notes, list):
        return []
    return [_status(note) for note in notes if isinstance(note, dict) and note.get("target")]


def _status(note: Json) -> Json:
    journal = note.get("journal")
    pending = bool(journal) and Path(journal).is_file()
    if note.get("lost"):
        status = "lost"
    elif pending:
        status = "spooled"
    elif note.get("spooled") or note.get("close_spooled"):
        status = "delivered (replayed)"  # spooled at the end of the run, and gone since
    elif note.get("closed"):
        status = "delivered"
    else:
        status = "not delivered"
    return {
        "target": str(note["target"]),
        "link": note.get("link") if _is_web(note.get("link")) else None,
        "status": status,
        "delivered": note.get("delivered", 0),
        "spooled": note.get("spooled", 0),
    }


def _is_web(link: Any) -> bool:
    # The link becomes an href: only web addresses, never javascript: or file names.
    return isinstance(link, str) and link.startswith(("https://", "http://"))
