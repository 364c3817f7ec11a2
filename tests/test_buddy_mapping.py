"""The ``buddy`` target's mapping (pure) and the target in-process against the fake.

Runs against the fake are in tests/test_buddy_runs.py; outcomes in tests/test_outcome_suite.py.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.ci import CIInfo
from pytest_testreport.config import settings_from_env
from pytest_testreport.engine.errors import DeliveryError
from pytest_testreport.engine.limits import Deadline
from pytest_testreport.model import Outcome, ResultKind, Session, Step
from pytest_testreport.targets.buddy.client import api_url
from pytest_testreport.targets.buddy.junit import (
    case_identity,
    case_payload,
    case_status,
    clean,
    data_fragment,
    nodeid_from_case,
    parse_data,
    session_payload,
)
from pytest_testreport.targets.buddy.target import BuddyTarget, _chunks

from .buddy_helpers import (
    props,
    result,
)
from .fakes.buddy import FakeBuddy

# -- pure mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "explicit", "expected"),
    [
        ("bud_ut_us_abc", None, "https://api.buddy.works/"),
        ("bud_ut_eu_abc", None, "https://api.eu.buddy.works/"),
        ("bud_ut_asia_abc", None, "https://api.asia.buddy.works/"),
        ("something-else", None, "https://api.buddy.works/"),
        ("bud_ut_eu_abc", "https://buddy.example.com/api", "https://buddy.example.com/api/"),
        (
            f"bud_ut_dev_{base64.urlsafe_b64encode(b'https://api.dev.example/').decode().rstrip('=')}"
            "_secret",
            None,
            "https://api.dev.example/",
        ),
        ("bud_ut_dev_!!notbase64_secret", None, "https://api.buddy.works/"),
    ],
)
def test_api_url(token: str, explicit: str, expected: str) -> None:
    assert api_url(explicit, token) == expected


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome.PASSED, "PASSED"),
        (Outcome.XPASSED, "PASSED"),
        (Outcome.FAILED, "FAILED"),
        (Outcome.ERROR, "ERROR"),
        (Outcome.SKIPPED, "SKIPPED"),
        (Outcome.XFAILED, "SKIPPED"),
    ],
)
def test_status(outcome: Outcome, status: str) -> None:
    assert case_status(result("t.py::x", outcome)) == status


@pytest.mark.parametrize(
    ("nodeid", "kind", "identity"),
    [
        (
            "tests/auth/test_login.py::TestLogin::test_login[admin]",
            ResultKind.TEST,
            ("test_login[admin]", "tests.auth.test_login.TestLogin", "tests/auth/test_login.py"),
        ),
        ("t.py::test_p[a::b/c.d]", ResultKind.TEST, ("test_p[a::b/c.d]", "t", "t.py")),
        ("t.py::A::B::test_x", ResultKind.TEST, ("test_x", "t.A.B", "t.py")),
        (
            "pkg/test_bad.py",
            ResultKind.COLLECTION_ERROR,
            ("test_bad.py", "pkg.test_bad", "pkg/test_bad.py"),
        ),
    ],
)
def test_identity_and_back(nodeid: str, kind: ResultKind, identity: tuple[str, str, str]) -> None:
    outcome = Outcome.ERROR if kind is ResultKind.COLLECTION_ERROR else Outcome.PASSED
    found = case_identity(result(nodeid, outcome, kind=kind))
    assert found == identity
    name, classname, group = found
    assert nodeid_from_case(group, classname, name) == nodeid


def test_clean_text() -> None:
    assert clean("a\x00b\x07c\x1b[31md\x1b[0m\x85e\ud800f\ufffe\tg\n") == "abcde?f\tg\n"
    assert "[truncated" in clean("x" * 5000, 1000) and len(clean("x" * 5000, 1000)) == 1000


def test_fragment_is_escaped_well_formed_and_bounded() -> None:
    nasty = 'a <b> & "c" ]]> \x01\x1b[1mbold\x1b[0m \udcff'
    failed = result(
        "t.py::test_x",
        Outcome.FAILED,
        message="AssertionError: " + nasty,
        traceback=[f"line {i} {nasty}" for i in range(5000)],
        stdout=nasty * 5000,
        stderr="e" * 100_000,
        log="log line\n" * 1000,
    )
    data = data_fragment(failed, [], limit=64 * 1024)
    assert len(data.encode()) <= 64 * 1024
    root = ET.fromstring(data)
    failure = root.find("failure")
    assert failure is not None and failure.get("type") == "AssertionError"
    assert failure.get("message", "").startswith('AssertionError: a <b> & "c" ]]> bold ?')
    assert "[truncated" in (failure.text or "")
    assert "[truncated" in root.findtext("system-out", "")
    assert "----- Captured log -----" in root.findtext("system-out", "")
    assert "[truncated" in root.findtext("system-err", "")
    small = data_fragment(failed, [], limit=4096)  # the smallest limit still holds the essentials
    assert len(small.encode()) <= 4096
    assert ET.fromstring(small).find("failure") is not None


def test_fragment_elements_per_outcome() -> None:
    def root(outcome: Outcome, **fields: Any) -> ET.Element:
        return ET.fromstring(data_fragment(result("t.py::T::test_x", outcome, **fields), []))

    error = root(Outcome.ERROR, message="RuntimeError: db", phase="setup").find("error")
    assert error is not None and error.get("message") == "error in setup: RuntimeError: db"
    skipped = root(Outcome.XFAILED, reason="known").find("skipped")
    assert skipped is not None and (skipped.get("type"), skipped.get("message")) == (
        "pytest.xfail",
        "known",
    )
    skipped = root(Outcome.SKIPPED, reason="later").find("skipped")
    assert skipped is not None and skipped.get("type") == "pytest.skip"
    xpassed = root(Outcome.XPASSED, reason="maybe")
    assert [c.tag for c in xpassed] == ["properties"]
    assert ("pytest.outcome", "xpassed") in props(xpassed)
    crash = root(Outcome.ERROR, message="crashed", phase="crash", kind=ResultKind.CRASH)
    assert crash.find("error").get("message").startswith("worker crashed")  # type: ignore[union-attr]
    assert ("pytest.kind", "crash") in props(crash)


def test_fragment_properties_steps_and_earlier_attempts() -> None:
    now = result("t.py::x").started_at
    final = result(
        "t.py::test_flaky",
        attempt=3,
        line=7,
        worker="gw1",
        tags=["smoke"],
        metadata=[("ticket", "PROJ-1"), ("ticket", "PROJ-2")],
        steps=[
            Step(id="a", text="outer", keyword="Given", started_at=now, finished_at=now),
            Step(
                id="b", parent_id="a", text="inner", started_at=now, result="failed", failure="bad"
            ),
        ],
    )
    earlier = [
        {
            "attempt": 1,
            "outcome": "failed",
            "message": "AssertionError: one",
            "traceback": "tb one",
            "phase": "call",
        },
        {
            "attempt": 2,
            "outcome": "error",
            "message": "boom",
            "traceback": "tb two",
            "phase": "setup",
        },
    ]
    root = ET.fromstring(data_fragment(final, earlier))
    assert root.get("line") == "7"
    pairs = props(root)
    for pair in [
        ("pytest.nodeid", "t.py::test_flaky"),
        ("pytest.attempts", "3"),
        ("pytest.earlier_outcomes", "failed,error"),
        ("pytest.worker", "gw1"),
        ("pytest.marker", "smoke"),
        ("ticket", "PROJ-1"),
        ("ticket", "PROJ-2"),
        ("pytest.step", "passed: Given outer (0.000s)"),
        ("pytest.step", "  failed: inner (0.000s) — bad"),
    ]:
        assert pair in pairs
    flaky = root.findall("flakyFailure") + root.findall("flakyError")
    assert [e.get("message") for e in flaky] == [
        "attempt 1: AssertionError: one",
        "attempt 2: boom",
    ]
    assert root.find("flakyFailure/stackTrace").text == "tb one"  # type: ignore[union-attr]
    # A test that kept failing lists rerun* instead; the reader gets it all back.
    final_failed = result("t.py::test_flaky", Outcome.FAILED, attempt=3, message="E three")
    parsed = parse_data(data_fragment(final_failed, earlier))
    assert parsed["attempts"] == 3 and parsed["nodeid"] == "t.py::test_flaky"
    assert [(e["attempt"], e["outcome"], e["message"]) for e in parsed["earlier"]] == [
        (1, "failed", "AssertionError: one"),
        (2, "error", "boom"),
    ]
    assert parsed["failure"]["message"] == "E three"
    # The official reporter's JSON data is understood too; anything else is ignored.
    official = json.dumps({"failure": {"message": "m", "stackTrace": "a\nb"}})
    assert parse_data(official)["failure"] == {
        "message": "m",
        "phase": "call",
        "traceback": ["a", "b"],
    }
    assert parse_data("not xml <") == {} and parse_data(None) == {}


def test_long_names_are_bounded_and_mapped_back_through_data() -> None:
    long_id = "x" * 5000
    payload = case_payload(result(f"t.py::test_p[{long_id}]", Outcome.FAILED), [])
    assert len(payload["name"]) == 1000 and "[truncated" in payload["name"]
    assert (
        nodeid_from_case(payload["test_group_name"], payload["classname"], payload["name"]) is None
    )
    assert parse_data(payload["data"])["nodeid"] == f"t.py::test_p[{long_id}]"


@pytest.mark.parametrize(
    ("ci", "expected"),
    [
        (
            CIInfo(
                provider="github_actions",
                branch="feat",
                pull_request="12",
                revision="abc",
                run_id="99",
                run_url="https://github.com/o/r/actions/runs/99",
            ),
            {
                "ci_provider": "GITHUB_ACTION",
                "ref_type": "PULL_REQUEST",
                "ref_name": "feat",
                "revision": "abc",
                "run_id": "99",
                "ci_run_url": "https://github.com/o/r/actions/runs/99",
            },
        ),
        (
            CIInfo(
                provider="buddy",
                branch="main",
                revision="def",
                run_id="7",
                extra={"execution_id": "e1", "action_execution_id": "a1", "pipeline_id": "3"},
            ),
            {
                "ci_provider": "BUDDY",
                "ref_type": "BRANCH",
                "ref_name": "main",
                "revision": "def",
                "run_id": "7",
                "execution_id": "e1",
                "action_execution_id": "a1",
            },
        ),
        (
            CIInfo(provider="circleci", tag="v1.2", revision="f00"),
            {"ci_provider": "CIRCLE_CI", "ref_type": "TAG", "ref_name": "v1.2", "revision": "f00"},
        ),
        (
            CIInfo(provider="gitlab", branch="dev"),
            {"ci_provider": "NONE", "ref_type": "BRANCH", "ref_name": "dev"},
        ),
        (CIInfo(), {"ci_provider": "NONE"}),
    ],
)
def test_session_payload(ci: CIInfo, expected: dict[str, str]) -> None:
    assert session_payload(ci) == expected


def test_chunks_by_count_and_size() -> None:
    small = [{"data": "x"}] * 250
    assert _chunks(small, 0) == [(0, 100), (100, 200), (200, 250)]
    assert _chunks(small, 120) == [(120, 220), (220, 250)]
    big = [{"data": "x" * 1_000_000}] * 5
    assert _chunks(big, 0) == [(0, 2), (2, 4), (4, 5)]


# -- the target in-process ---------------------------------------------------------------------


def target_for(fake: FakeBuddy, tmp_path: Path, **env: str) -> BuddyTarget:
    return BuddyTarget.from_settings(settings_from_env({**fake.env(), **env}, tmp_path))


def test_reruns_fold_into_the_final_case_even_across_a_spool(
    buddy_fake: FakeBuddy, tmp_path: Path
) -> None:
    target = target_for(buddy_fake, tmp_path)
    session = Session()
    target.open_session(session)
    first = result("t.py::test_f", Outcome.FAILED, attempt=1, final=False, message="E one")
    target.send_batch(session, [first], {})
    assert not buddy_fake.case_writes  # an earlier attempt is never sent on its own
    second = result("t.py::test_f", Outcome.FAILED, attempt=2, final=False, message="E two")
    final = result("t.py::test_f", attempt=3)
    progress: dict[str, Any] = {}
    buddy_fake.outage()
    deadline = Deadline()
    target.bind(deadline)
    deadline.set(0.5)  # the end of the run: no long back-off
    with pytest.raises(DeliveryError):
        target.send_batch(session, [second, final], progress)
    buddy_fake.recover()
    # The batch was spooled with its progress; replay is a new process with a new target.
    replayed = target_for(buddy_fake, tmp_path)
    replayed.resume(json.loads(json.dumps(target.state())), session)
    replayed.send_batch(session, [second, final], json.loads(json.dumps(progress)))
    case = buddy_fake.session.case("test_f")
    assert case.status == "PASSED" and case.versions == 1
    assert [e["message"] for e in parse_data(case.data)["earlier"]] == ["E one", "E two"]
    replayed.close_session(session)
    assert buddy_fake.session.status == "SUCCESSFUL"


def test_a_joined_session_is_left_open_unless_told(buddy_fake: FakeBuddy, tmp_path: Path) -> None:
    joined = buddy_fake.add_session()
    for close, status in (("", "IN_PROGRESS"), ("true", "SUCCESSFUL")):
        target = target_for(
            buddy_fake, tmp_path, BUDDY_SESSION_ID=joined.id, TESTREPORT_BUDDY_CLOSE=close
        )
        target.open_session(Session())
        target.send_batch(Session(), [result("t.py::test_a")], {})
        target.close_session(Session())
        assert joined.status == status
    assert not buddy_fake.matching("POST", r"/unit-tests/sessions$")  # never created one
