"""CI job summaries: Markdown about the run for GitHub Actions and Buildkite.

In GitHub Actions (``GITHUB_STEP_SUMMARY`` set) the Markdown is appended to the step summary;
in Buildkite (``BUILDKITE`` set and ``buildkite-agent`` on PATH) it becomes the build annotation
with context ``testreport``. Nowhere else is anything written. ``testreport_summary = false``
turns it off. Everything written goes through the mask helper, and the size is bounded
(GitHub accepts 1 MiB per step).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..engine import SenderState
from ..engine.secrets import Secret
from ..layout import plural, seconds
from ..model import Outcome, Session, TestResult
from .markdown import Markdown, Raw

log = logging.getLogger("pytest_testreport")

MAX_FAILURES = 50  # rows of the failure table; the rest is counted
MAX_MESSAGE = 200  # characters of a failure's short message
SLOWEST = 5
FLAKY = 10
HISTORY_SESSIONS = 10
MAX_BYTES = 256 * 1024  # well under GitHub's 1 MiB per step
CONTEXT = "testreport"
AGENT_TIMEOUT = 30.0
_BAD = (Outcome.FAILED, Outcome.ERROR)


@dataclass
class FailedTest:
    """A final attempt that failed or errored, with its first message line."""

    nodeid: str
    outcome: str
    message: str
    uuid: str = ""  # the result's: the key of a target's per-test link (SenderState.test_links)


@dataclass
class RunNotes:
    """What the summary keeps from the results as they pass: bounded, cheap per result."""

    failures: list[FailedTest] = field(default_factory=list)
    more_failures: int = 0
    rerun_passed: list[str] = field(default_factory=list)  # flaky within this run
    _slow: list[tuple[float, int, str]] = field(default_factory=list)
    _seq: Any = field(default_factory=itertools.count)

    def add(self, result: TestResult) -> None:
        """Note a result (only final attempts matter here)."""
        if not result.final:
            return
        if result.outcome in _BAD:
            if len(self.failures) < MAX_FAILURES:
                failure = result.failure
                message = failure.message if failure else ""
                self.failures.append(FailedTest(result.nodeid, result.outcome.value,
                                                short_message(message), result.uuid))  # fmt: skip
            else:
                self.more_failures += 1
        elif result.attempt > 1 and len(self.rerun_passed) < FLAKY:
            self.rerun_passed.append(result.nodeid)
        entry = (result.duration, next(self._seq), result.nodeid)
        if len(self._slow) < SLOWEST:
            heapq.heappush(self._slow, entry)
        elif entry[0] > self._slow[0][0]:
            heapq.heapreplace(self._slow, entry)

    @property
    def slowest(self) -> list[tuple[str, float]]:
        """This run's slowest tests, slowest first."""
        return [(nodeid, d) for d, _, nodeid in sorted(self._slow, key=lambda e: (-e[0], e[1]))]


def short_message(message: str) -> str:
    """The first non-empty line of a failure message, cut to ``MAX_MESSAGE`` characters."""
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return first if len(first) <= MAX_MESSAGE else first[: MAX_MESSAGE - 1] + "…"


@dataclass
class History:
    """What the local store says about this run compared with earlier ones."""

    note: Optional[str] = None  # why there is no history
    previous: Optional[int] = None  # the previous session on the branch
    new_failures: list[str] = field(default_factory=list)
    flaky: list[dict[str, Any]] = field(default_factory=list)


# -- where it goes ----------------------------------------------------------------------------


def destinations(env: Mapping[str, str]) -> list[Callable[[str, str], None]]:
    """Writers for the CIs this run is in: each takes the Markdown and a style."""
    found: list[Callable[[str, str], None]] = []
    step_summary = env.get("GITHUB_STEP_SUMMARY", "").strip()
    if env.get("GITHUB_ACTIONS", "").lower() == "true" and step_summary:
        found.append(lambda text, style: _append(Path(step_summary), text))
    agent = shutil.which("buildkite-agent", path=env.get("PATH"))
    if env.get("BUILDKITE", "").lower() == "true" and agent:
        found.append(lambda text, style: _annotate(agent, text, style, env))
    return found


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8", errors="replace") as out:
        out.write(text)


def _annotate(agent: str, text: str, style: str, env: Mapping[str, str]) -> None:
    done = subprocess.run(
        [agent, "annotate", "--context", CONTEXT, "--style", style],
        input=text.encode("utf-8", "replace"), capture_output=True, timeout=AGENT_TIMEOUT,
        env=dict(env), check=False,
    )  # fmt: skip
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OSError(f"buildkite-agent annotate exited {done.returncode}: "
                      f"{error[-1] if error else ''}")  # fmt: skip


def notes_for(settings: Any) -> Optional[RunNotes]:
    """Notes to keep during the run, when a summary will be written at its end."""
    if settings.summary and destinations(settings.env):
        return RunNotes()
    return None


def publish(settings: Any, session: Session, states: Sequence[SenderState],
            notes: Optional[RunNotes]) -> None:  # fmt: skip
    """Write the summary where the CI shows it; a failure is logged, never raised."""
    if notes is None:
        return
    try:
        history = read_history(settings, session) if "local" in settings.targets else None
        text = render(session, states, notes, history, secrets_of(settings))
        style = "error" if session.failed_count or session.error_count else "success"
        for write in destinations(settings.env):
            write(text, style)
    except Exception as exc:  # the summary is not worth failing the run for
        log.warning("testreport: the CI job summary was not written: %s", exc)


def secrets_of(settings: Any) -> list[Secret]:
    """Every configured credential, for masking."""
    from ..config import all_options

    values = settings.values
    return [Secret(str(values[o.name])) for o in all_options() if o.secret and values.get(o.name)]


# -- history from the local store -------------------------------------------------------------


def read_history(settings: Any, session: Session) -> History:
    """New failures against the previous session on the branch, and flaky tests there."""
    branch = session.ci.branch
    if not branch:
        return History(note="history needs a known branch")
    from ..targets.local.reader import LocalReader

    try:
        with LocalReader(settings.local_path) as reader:
            failed = [t["nodeid"] for t in reader.failed(session.uuid, None)]
            previous, before = reader.failed_for_rerun(branch, exclude_uuid=session.uuid)
            flaky = reader.flaky(HISTORY_SESSIONS, 2, branch)[:FLAKY]
    except Exception as exc:  # a damaged or missing store: say so, write the rest
        return History(note=f"the local store could not be read: {exc}")
    known = set(before)
    new = [nodeid for nodeid in failed if nodeid not in known] if previous is not None else []
    return History(previous=previous, new_failures=new, flaky=flaky)


# -- Markdown ---------------------------------------------------------------------------------


def render(session: Session, states: Sequence[SenderState], notes: RunNotes,
           history: Optional[History], secrets: Sequence[Secret] = ()) -> str:  # fmt: skip
    """The whole summary: every value masked and escaped, the size bounded."""
    md = Markdown(secrets)
    parts = [
        _heading(md, session),
        _failures(md, notes, states),
        _new_failures(md, session, history),
        _flaky(md, notes, history),
        _slowest(md, notes),
        _targets(md, states),
    ]
    return _bounded("\n".join(p for p in parts if p)) + "\n"


def _heading(md: Markdown, session: Session) -> str:
    ok = session.status.value == "successful"
    counts = (
        f"{session.tests_count} tests: {session.passed_count} passed, "
        f"{session.failed_count} failed, {plural(session.error_count, 'error')}, "
        f"{session.skipped_count} skipped"
    )
    lines = [f"## pytest-testreport: {'passed' if ok else 'failed'}", "",
             f"**{md.text(counts)}** in {md.text(seconds(session.duration))}"]  # fmt: skip
    if session.error_message and not ok:
        lines += ["", f"Status: {md.text(session.error_message)}"]
    return "\n".join(lines) + "\n"


def _links(md: Markdown, states: Sequence[SenderState], uuid: str) -> Raw:
    """Each remote target's link for one failure: to the test where the target's answers gave
    one (SenderState.test_links), else to the target's session."""
    links = [(s.target, s.test_links.get(uuid) or s.link) for s in states]
    return Raw(" · ".join(md.link(target, url) for target, url in links if url) or "-")


def _failures(md: Markdown, notes: RunNotes, states: Sequence[SenderState]) -> str:
    if not notes.failures:
        return ""
    rows = [[f.nodeid, f.outcome, f.message or "-", _links(md, states, f.uuid)]
            for f in notes.failures]  # fmt: skip
    out = ["### Failures and errors", "",
           *md.table(["Test", "Outcome", "Message", "Links"], rows)]  # fmt: skip
    if notes.more_failures:
        out += ["", f"... and {notes.more_failures} more"]
    return "\n".join(out) + "\n"


def _new_failures(md: Markdown, session: Session, history: Optional[History]) -> str:
    if history is None:
        return (
            "### History\n\nNew failures and flaky tests across sessions need the local target.\n"
        )
    if history.note:
        return f"### History\n\nNo history: {md.text(history.note)}\n"
    branch = md.text(session.ci.branch)
    if history.previous is None:
        return f"### New failures\n\nNo previous session on branch {branch} to compare with.\n"
    head = f"### New failures since session {history.previous} on branch {branch}"
    if not history.new_failures:
        return f"{head}\n\nNone.\n"
    shown = history.new_failures[:MAX_FAILURES]
    lines = [f"- {md.text(nodeid)}" for nodeid in shown]
    if len(history.new_failures) > len(shown):
        lines.append(f"- ... and {len(history.new_failures) - len(shown)} more")
    return "\n".join([head, "", *lines]) + "\n"


def _flaky(md: Markdown, notes: RunNotes, history: Optional[History]) -> str:
    rows = [[nodeid, "passed on a rerun in this run"] for nodeid in notes.rerun_passed]
    for row in history.flaky if history else ():
        rows.append([row["nodeid"], f"{row['flips']} flips in the last "
                     f"{plural(row['sessions'], 'session')}"])  # fmt: skip
    if not rows:
        return ""
    return "\n".join(["### Flaky tests", "", *md.table(["Test", "Why"], rows)]) + "\n"


def _slowest(md: Markdown, notes: RunNotes) -> str:
    rows = [[nodeid, seconds(duration)] for nodeid, duration in notes.slowest]
    if not rows:
        return ""
    return "\n".join(["### Slowest tests", "", *md.table(["Test", "Duration"], rows)]) + "\n"


def target_status(state: SenderState) -> str:
    """One target's delivery, in words."""
    if state.closed and not state.undelivered:
        parts = [f"delivered ({plural(state.delivered, 'result')})"]
    else:
        parts = []
        if state.spooled or state.close_spooled:
            parts.append(
                f"{state.spooled_text()}; deliver with pytest-testreport replay --target "
                f"{state.target}"
            )
        if state.lost:
            parts.append(f"{state.lost} results lost")
        if state.unknown:
            parts.append(f"{state.unknown} results in an unknown state")
        parts = parts or ["not delivered"]
    if state.errors:
        parts.append(state.errors[0])
    return "; ".join(parts)


def _targets(md: Markdown, states: Sequence[SenderState]) -> str:
    rows = [[s.target, target_status(s), s.link] for s in states]
    return (
        "\n".join(["### Targets", "", *md.table(["Target", "Delivery", "Link"], rows, links=2)])
        + "\n"
    )


def _bounded(text: str) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_BYTES:
        return text
    kept = data[:MAX_BYTES].decode("utf-8", "ignore")
    return kept.rsplit("\n", 1)[0] + "\n\n... (summary cut at its size limit)"
