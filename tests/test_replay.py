"""``pytest-testreport replay`` when things went wrong: damaged journals, sessions never opened,
BrowserStack runs whose start got no answer (issue 15, items 5 to 7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.engine.replay import replay
from pytest_testreport.engine.spool import Journal
from pytest_testreport.model import Session, SessionStatus

from .browserstack_helpers import check_build, cli
from .engine_helpers import CollectFake, CollectTarget, make_results
from .fakes import FakeBrowserStack, FakeBuddy
from .fakes.plugin import BROWSERSTACK_ACCESS_KEY, BROWSERSTACK_USERNAME

SIX = """
import pytest
@pytest.mark.parametrize("i", range(6))
def test_p(i): assert i != 4
"""


# -- item 7: one bad journal must not block the others ------------------------------------------
@pytest.fixture
def collect() -> Iterator[CollectFake]:
    with CollectFake() as fake:
        yield fake


def write_journal(spool: Path, fake: CollectFake, batches: int, close: bool = True) -> Path:
    """A journal as a run leaves it: its session opened, ``batches`` of 3 results, the close."""
    session = Session(pytest_version="9")
    target = CollectTarget(fake.url)
    target.open_session(session)
    journal = Journal(spool, "collect", session)
    journal.set_state(target.state())
    results = make_results(3 * batches)
    for start in range(0, len(results), 3):
        journal.add_results(results[start : start + 3], {}, "spooled for the test")
    if close:
        for result in results:
            session.count(result)
        session.finish()
        journal.add_close(session)
    journal.close()
    target.release()
    return journal.path


def replay_all(spool: Path, fake: CollectFake) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = replay(spool, lambda name, env: CollectTarget(fake.url), env={}, echo=lines.append)
    return code, lines


def test_a_journal_with_bytes_that_are_not_utf8_does_not_block_the_others(
    collect: CollectFake, tmp_path: Path
) -> None:
    good = [write_journal(tmp_path, collect, 1) for _ in range(2)]
    bad = write_journal(tmp_path, collect, 2)
    lines = bad.read_bytes().split(b"\n")
    # line 1 the header (with the state), 2 and 3 the results, 4 the close
    assert b"test_0" in lines[1]
    lines[1] = lines[1].replace(b"test_0", b"test_\xff\xfe0")
    bad.write_bytes(b"\n".join(lines))

    code, out = replay_all(tmp_path, collect)

    assert code == 1, out
    assert not any(p.exists() for p in [*good, bad])
    aside = bad.with_name(bad.name + ".damaged")
    # Kept as it was, for a human to look at; with what replay delivered acknowledged after it.
    kept = aside.read_bytes()
    assert kept.startswith(b"\n".join(lines)) and b'"kind":"ack"' in kept[len(b"\n".join(lines)) :]
    message = next(line for line in out if line.startswith(bad.name))
    assert "line 2" in message and "not UTF-8" in message and str(aside.name) in message
    assert sum("journal removed" in line for line in out) == 2
    # Every readable line was delivered: 3 + 3 good results, 3 of the damaged journal's 6.
    assert len(collect.unique_items()) == 9
    assert all(s["closed"] and s["order"][-1] == "close" for s in collect.sessions.values())


def test_a_journal_cut_off_in_its_last_line_is_kept_and_its_session_closed(
    collect: CollectFake, tmp_path: Path
) -> None:
    path = write_journal(tmp_path, collect, 2, close=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # the second batch's line lost its end

    code, out = replay_all(tmp_path, collect)

    assert code == 1, out
    assert not path.exists() and path.with_name(path.name + ".damaged").exists()
    (message,) = out
    assert "line 3" in message and "cut off" in message and "delivered 3" in message
    (session,) = collect.sessions.values()
    assert len(session["items"]) == 3
    assert session["closed"] and session["order"][-1] == "close"
    assert session["status"] == SessionStatus.ERROR.value
    assert replay_all(tmp_path, collect)[0] == 0  # the damaged journal is not replayed again


def test_a_journal_without_a_readable_header_is_set_aside(
    collect: CollectFake, tmp_path: Path
) -> None:
    good = write_journal(tmp_path, collect, 1)
    bad = write_journal(tmp_path, collect, 1)
    bad.write_bytes(b"\xff" + bad.read_bytes())
    code, out = replay_all(tmp_path, collect)
    assert code == 1
    assert not good.exists() and not bad.exists()
    assert bad.with_name(bad.name + ".damaged").exists()
    assert any(line.startswith(bad.name) and "line 1" in line for line in out)


def test_a_torn_acknowledgement_loses_nothing(collect: CollectFake, tmp_path: Path) -> None:
    path = write_journal(tmp_path, collect, 1)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"kind":"ack","ent')  # killed while acknowledging: the entry goes again
    code, out = replay_all(tmp_path, collect)
    assert code == 0, out
    assert not path.exists() and not list(tmp_path.glob("*.damaged"))


# -- item 6: a session whose open never answered ------------------------------------------------
# On a heavily loaded machine the delivery process can miss its report deadline; the pytest
# process then takes over, opens the session afresh and leaves no journal to replay (that path
# is test_takeover.py's). Only that missing precondition (no journal: ValueError) is rerun.
@pytest.mark.flaky(reruns=2, only_rerun=["ValueError"])
@pytest.mark.parametrize("service", ["buddy", "browserstack"])
def test_replay_opens_a_session_the_run_never_heard_back_about(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    fake: Any = (
        FakeBuddy()
        if service == "buddy"
        else FakeBrowserStack(BROWSERSTACK_USERNAME, BROWSERSTACK_ACCESS_KEY)
    )
    with fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        fake.hang_next(1)  # the open: taken, never answered, never processed
        pytester.makepyfile(test_h=SIX)
        res = pytester.runpytest_subprocess(
            f"--testreport={service}", "-p", "no:cacheprovider",
            "--testreport-flush-timeout=1", "--testreport-read-timeout=30",
        )  # fmt: skip
        res.assert_outcomes(passed=5, failed=1)
        spool = pytester.path / ".testreport" / "spool"
        (journal,) = spool.glob(f"{service}-*.jsonl")
        kinds = [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
        assert "open" not in kinds and "state" not in kinds  # what the issue describes
        fake.release()
        monkeypatch.chdir(pytester.path)
        code, out, err = cli("replay")
        assert code == 0, out + err
        assert not list(spool.glob("*.jsonl"))
        if service == "buddy":
            session = fake.session
            assert session.closed and len(session.cases) == 6
            assert session.count("FAILED") == 1
        else:
            assert len(check_build(fake)) == 6
