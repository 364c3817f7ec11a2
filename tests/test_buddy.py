"""The ``buddy`` target against the fake Buddy Unit Tests API (tests/fakes/buddy.py)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.ci import CIInfo
from pytest_testreport.cli import main as cli_main
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
from pytest_testreport.targets.buddy.reader import BuddyReader, failed_session
from pytest_testreport.targets.buddy.target import BuddyTarget, _chunks

from .buddy_helpers import (
    SUITE_TESTS,
    add_cases,
    assert_close_last,
    assert_every_case_once,
    buddy_counts,
    buddy_statuses,
    fragment,
    junit_statuses,
    props,
    result,
    write_suite,
)
from .fakes.buddy import FakeBuddy
from .junit import junit_counts

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


# -- runs against the fake ---------------------------------------------------------------------


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeBuddy, **extra: str) -> None:
    for name, value in {**fake.env(), **extra}.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_suite_matches_junitxml(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    buddy_fake: FakeBuddy,
    mode: list[str],
) -> None:
    write_suite(pytester)
    use_fake(
        monkeypatch,
        buddy_fake,
        GITHUB_ACTIONS="true",
        GITHUB_RUN_ID="42",
        GITHUB_REF="refs/heads/main",
        GITHUB_SHA="abc123",
        GITHUB_REPOSITORY="o/r",
    )
    junit = pytester.path / "junit.xml"
    run = pytester.runpytest_subprocess(
        "--testreport=buddy", f"--junitxml={junit}", "--continue-on-collection-errors", *mode
    )
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    session = buddy_fake.session
    assert session.fields == {
        "ci_provider": "GITHUB_ACTION",
        "ref_type": "BRANCH",
        "ref_name": "main",
        "revision": "abc123",
        "run_id": "42",
        "ci_run_url": "https://github.com/o/r/actions/runs/42",
    }
    assert_every_case_once(buddy_fake, SUITE_TESTS)
    assert buddy_statuses(session) == junit_statuses(junit)
    assert buddy_counts(session) == junit_counts(junit)
    assert max(session.batch_sizes) <= 100
    assert session.close_bodies == [{"status": "ERROR"}]
    run.stdout.fnmatch_lines(
        [
            f"testreport buddy: session {session.id} ERROR — 32 tests, *"
            f" — https://app.buddy.works/*/{session.id}"
        ]
    )
    cases = {c.name: c for c in session.cases.values()}
    deep = cases["test_deep"]
    assert (deep.classname, deep.test_group_name) == (
        "test_alpha.TestGroup.TestInner",
        "test_alpha.py",
    )
    broken = cases["test_broken_import.py"]
    assert (broken.classname, broken.test_group_name, broken.status) == (
        "test_broken_import",
        "test_broken_import.py",
        "ERROR",
    )
    assert cases["test_many[3]"].test_group_name == "sub/test_beta.py"
    assert all(isinstance(c.time, float) and c.time >= 0 for c in cases.values())
    failed = fragment(cases["test_fail"]).find("failure")
    assert failed is not None and "alpha <failed> &  red ]]>" in failed.get("message", "")
    assert "\x1b" not in cases["test_fail"].data and "\x07" not in cases["test_fail"].data  # type: ignore[operator]
    teardown = fragment(cases["test_teardown_error"]).find("error")
    assert teardown is not None and teardown.get("message", "").startswith("error in teardown")
    assert (
        fragment(cases["test_strict"]).find("failure").get("message").startswith("[XPASS(strict)]")
    )  # type: ignore[union-attr]
    steps = props(fragment(cases["test_steps"]))
    lines = [v for k, v in steps if k == "pytest.step"]
    assert lines[0].startswith("passed: Given outer (") and lines[1].startswith("  passed: inner (")
    assert {("ticket", "PROJ-1"), ("k", "v"), ("pytest.marker", "smoke")} <= set(steps)
    if mode:
        assert any(
            ("pytest.worker", "gw0") in props(fragment(c))
            or ("pytest.worker", "gw1") in props(fragment(c))
            for c in cases.values()
        )


def test_reruns_show_the_final_attempt(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(
        test_rr="""
        import pathlib
        def test_flaky():
            marker = pathlib.Path("flaky.count")
            count = int(marker.read_text()) if marker.exists() else 0
            marker.write_text(str(count + 1))
            assert count >= 2, f"attempt {count + 1} fails"
        def test_always(): assert 0, "always"
        def test_fine(): pass
        """
    )
    use_fake(monkeypatch, buddy_fake)
    run = pytester.runpytest_subprocess("--testreport=buddy", "--reruns=2", "-n", "2")
    assert run.parseoutcomes() == {"passed": 2, "failed": 1, "rerun": 4}
    assert_every_case_once(buddy_fake, 3)
    flaky = buddy_fake.session.case("test_flaky")
    always = buddy_fake.session.case("test_always")
    assert (flaky.status, always.status) == ("PASSED", "FAILED")
    root = fragment(flaky)
    assert [e.get("message") for e in root.findall("flakyFailure")] == [
        "attempt 1: AssertionError: attempt 1 fails\nassert 0 >= 2",
        "attempt 2: AssertionError: attempt 2 fails\nassert 1 >= 2",
    ]
    assert ("pytest.attempts", "3") in props(root)
    assert len(fragment(always).findall("rerunFailure")) == 2


def test_a_crashed_worker_test_is_an_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(
        test_crash="import os\ndef test_ok(): pass\ndef test_crash(): os._exit(1)\n"
    )
    use_fake(monkeypatch, buddy_fake)
    assert pytester.runpytest_subprocess("--testreport=buddy", "-n", "2").ret == 1
    assert_every_case_once(buddy_fake, 2)
    crash = buddy_fake.session.case("test_crash")
    error = fragment(crash).find("error")
    assert crash.status == "ERROR" and error is not None
    assert error.get("message", "").startswith("worker crashed")


def test_cases_arrive_while_the_suite_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(
        test_live="""
        import os, time, requests
        def test_first(): pass
        def test_waits_for_delivery():
            env = os.environ
            url = (env["BUDDY_API_URL"] + "workspaces/" + env["TESTREPORT_BUDDY_WORKSPACE"]
                   + "/projects/" + env["TESTREPORT_BUDDY_PROJECT"] + "/unit-tests/suites/"
                   + env["TESTREPORT_BUDDY_SUITE"] + "/sessions")
            auth = {"Authorization": "Bearer " + os.environ["BUDDY_TOKEN"]}
            deadline = time.time() + 15
            while time.time() < deadline:
                sessions = requests.get(url, headers=auth, timeout=5).json()["sessions"]
                if sessions and sessions[0]["tests_count"] >= 1:
                    return
                time.sleep(0.05)
            raise AssertionError("nothing was delivered while the suite ran")
        """
    )
    use_fake(monkeypatch, buddy_fake)
    pytester.runpytest_subprocess("--testreport=buddy").assert_outcomes(passed=2)
    assert_every_case_once(buddy_fake, 2)


FAULTS = {
    "5xx": lambda fake: (fake.fail_next(1, 503, path="/cases/batch$"), fake.fail_ratio(0.3, 503)),
    "resets": lambda fake: fake.reset_next(4),
    "429": lambda fake: fake.fail_next(2, 429, headers={"Retry-After": "1"}, path="/cases/batch$"),
    "slow": lambda fake: fake.slow_next(2, 1.5),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_faults_lose_and_duplicate_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy, fault: str
) -> None:
    write_suite(pytester)
    use_fake(monkeypatch, buddy_fake)
    if fault in ("resets", "slow"):
        # A create that may have been processed is never repeated (it would make two sessions):
        # these faults hit a joined session's case writes, which are upserts and are retried.
        monkeypatch.setenv("BUDDY_SESSION_ID", buddy_fake.add_session().id)
        monkeypatch.setenv("TESTREPORT_BUDDY_CLOSE", "true")
    FAULTS[fault](buddy_fake)
    run = pytester.runpytest_subprocess(
        "--testreport=buddy",
        "--testreport-batch-age=0.05",
        "--testreport-read-timeout=0.5",
        "--testreport-flush-timeout=30",
        "--continue-on-collection-errors",
        "-n",
        "2",
    )
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert "spooled" not in run.stdout.str()
    assert_every_case_once(buddy_fake, SUITE_TESTS, retried=fault == "slow")
    assert any(r.fault for r in buddy_fake.requests), "the fault never happened"


def test_outage_spools_and_replay_delivers_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    write_suite(pytester)
    use_fake(monkeypatch, buddy_fake)
    buddy_fake.outage()
    run = pytester.runpytest_subprocess(
        "--testreport=buddy", "--continue-on-collection-errors", "--testreport-flush-timeout=5"
    )
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    run.stdout.fnmatch_lines(["*pytest-testreport replay --target buddy*"])
    assert not buddy_fake.sessions
    buddy_fake.recover()
    monkeypatch.chdir(pytester.path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["replay"]) == 0, out.getvalue()
    assert_every_case_once(buddy_fake, SUITE_TESTS)
    with contextlib.redirect_stdout(out):
        assert cli_main(["replay"]) == 0  # nothing left: a second replay sends nothing
    assert len(buddy_fake.sessions) == 1


def test_wrong_token_is_named_once_and_spooled(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    write_suite(pytester)
    use_fake(monkeypatch, buddy_fake, BUDDY_UT_TOKEN="bud_ut_us_wrong")
    run = pytester.runpytest_subprocess("--testreport=buddy", "--continue-on-collection-errors")
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    output = run.stdout.str()
    assert output.count("the Buddy suite token from BUDDY_UT_TOKEN was refused") == 1, output
    assert "bud_ut_us_wrong" not in output + run.stderr.str()
    run.stdout.fnmatch_lines(["*32 results spooled (and the session close)*"])


def test_unknown_joined_session_is_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(test_j="def test_a(): pass\ndef test_b(): pass\n")
    use_fake(monkeypatch, buddy_fake, BUDDY_SESSION_ID="NoSuch42")
    run = pytester.runpytest_subprocess("--testreport=buddy")
    run.assert_outcomes(passed=2)
    assert run.stdout.str().count("BUDDY_SESSION_ID=NoSuch42: this session does not exist") == 1
    assert not buddy_fake.sessions


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main(list(args))
    return code, out.getvalue()


def test_sharded_ci_shares_one_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    use_fake(
        monkeypatch,
        buddy_fake,
        BUDDY="true",
        BUDDY_RUN_BRANCH="main",
        BUDDY_RUN_HASH="exec1",
        BUDDY_ACTION_RUN_HASH="act1",
    )
    code, out = cli("buddy", "open", "--export")
    assert code == 0 and out.startswith("BUDDY_SESSION_ID=")
    session_id = out.strip().split("=", 1)[1]
    assert buddy_fake.session.fields["execution_id"] == "exec1"
    monkeypatch.setenv("BUDDY_SESSION_ID", session_id)
    pytester.makepyfile(test_shard_a="def test_a1(): pass\ndef test_a2(): assert 0\n")
    pytester.runpytest_subprocess("--testreport=buddy", "test_shard_a.py").stdout.fnmatch_lines(
        [f"*joined session {session_id}*left open for pytest-testreport buddy close {session_id}"]
    )
    pytester.makepyfile(test_shard_b="def test_b1(): pass\n")
    pytester.runpytest_subprocess("--testreport=buddy", "test_shard_b.py").assert_outcomes(passed=1)
    assert buddy_fake.session.status == "IN_PROGRESS"
    code, out = cli("buddy", "close", session_id)
    assert code == 0 and "closed: ERROR (3 tests, 1 failed" in out
    session = buddy_fake.session
    assert {c.name for c in session.cases.values()} == {"test_a1", "test_a2", "test_b1"}
    assert_close_last(buddy_fake)
    assert cli("buddy", "close", "NoSuch42")[0] == 1


def test_open_and_close_through_the_workspace_path(
    monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    use_fake(monkeypatch, buddy_fake, TESTREPORT_BRANCH="main")
    monkeypatch.delenv("BUDDY_UT_TOKEN")  # the personal access token alone
    code, out = cli("buddy", "open")
    assert code == 0
    session = buddy_fake.session
    assert out.strip() == session.id and session.fields["ref_name"] == "main"
    assert buddy_fake.matching("POST", r"^/workspaces/.*/suites/MNbyVedg/sessions$", accepted=True)
    assert cli("buddy", "close", session.id)[0] == 0 and session.status == "SUCCESSFUL"
    assert cli("buddy", "reopen", session.id)[0] == 0 and session.status == "IN_PROGRESS"


# -- reading back ------------------------------------------------------------------------------


def cli_json(*args: str) -> Any:
    code, out = cli(*args, "--target", "buddy", "--json")
    assert code == 0, out
    return json.loads(out)


def test_list_paginates(monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy) -> None:
    use_fake(monkeypatch, buddy_fake)
    for number in range(45):
        session = buddy_fake.add_session(
            ref_type="BRANCH", ref_name="main" if number % 3 else "dev"
        )
        session.status = "SUCCESSFUL"
    ids = [s["id"] for s in cli_json("list", "--per-page", "20", "--page", "3")]
    assert len(ids) == 5
    assert [s["relative_id"] for s in cli_json("list", "--per-page", "20", "--page", "3")] == list(
        range(5, 0, -1)
    )
    everything = cli_json("list", "--per-page", "150")
    assert [s["relative_id"] for s in everything] == list(range(45, 0, -1))
    assert len(cli_json("list", "--per-page", "150", "--page", "2")) == 0
    main = cli_json("list", "--branch", "main", "--per-page", "100")
    assert len(main) == 30 and {s["branch"] for s in main} == {"main"}
    first = everything[0]
    assert (first["status"], first["service_status"], first["branch"]) == (
        "successful",
        "SUCCESSFUL",
        "main",
    )


def test_show_and_failed_read_every_page(
    monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    use_fake(monkeypatch, buddy_fake)
    session = buddy_fake.add_session(ref_type="BRANCH", ref_name="main")
    failing = [
        (f"tests/test_{i % 7}.py", f"tests.test_{i % 7}.TestC", f"test_{i}", "FAILED")
        for i in range(130)
    ]
    add_cases(
        session,
        [
            *failing,
            ("tests/test_x.py", "tests.test_x", "test_x.py", "ERROR"),
            ("tests/test_y.py", "tests.test_y", "test_ok", "PASSED"),
        ],
    )
    failed = cli_json("failed", session.id)
    assert len(failed) == 131
    assert failed[0]["nodeid"] == "tests/test_0.py::TestC::test_0"
    assert failed[0]["failure"]["message"] == "m0"
    assert failed[-1]["nodeid"] == "tests/test_x.py" and failed[-1]["kind"] == "collection_error"
    shown = cli_json("show", "latest")
    assert shown["id"] == session.id and len(shown["tests"]) == 132
    assert cli_json("failed", "latest", "--branch", "main")[0]["outcome"] == "failed"
    code, _ = cli("show", "NoSuch42", "--target", "buddy")
    assert code == 1


def test_pages_when_the_server_pages_smaller(
    monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    with FakeBuddy(buddy_fake.token, pat=buddy_fake.pat, max_per_page=30) as small:
        use_fake(monkeypatch, small)
        session = small.add_session()
        add_cases(session, [("t.py", "t", f"test_{i}", "FAILED") for i in range(75)])
        assert len(cli_json("failed", session.id)) == 75


def test_failed_session_for_failed_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    settings = settings_from_env({**buddy_fake.env(), "TESTREPORT_BRANCH": "main"}, tmp_path)
    assert failed_session(settings, None) == (None, [])
    older = buddy_fake.add_session(ref_type="BRANCH", ref_name="main")
    older.status = "ERROR"
    add_cases(
        older,
        [
            ("t.py", "t.TestA", "test_x[1]", "FAILED"),
            ("t.py", "t", "t.py", "ERROR"),
            ("t.py", "t", "test_ok", "PASSED"),
        ],
    )
    buddy_fake.add_session(ref_type="BRANCH", ref_name="main")  # newer, still running
    other = buddy_fake.add_session(ref_type="BRANCH", ref_name="dev")
    other.status = "ERROR"
    described, nodeids = failed_session(settings, None)
    assert described == f"buddy session {older.id} (#1) on branch main"
    assert nodeids == ["t.py::TestA::test_x[1]", "t.py"]
    assert failed_session(settings, other.id) == (f"buddy session {other.id} (#3)", [])
    with pytest.raises(pytest.UsageError, match="no session 'nope'"):
        failed_session(settings, "nope")
    with pytest.raises(pytest.UsageError, match="TESTREPORT_BUDDY_SUITE"):
        env = {k: v for k, v in buddy_fake.env().items() if k != "TESTREPORT_BUDDY_SUITE"}
        failed_session(settings_from_env(env, tmp_path), None)
    buddy_fake.unauthorized()  # a rejected token is a configuration error
    with pytest.raises(pytest.UsageError, match="401"):
        BuddyReader.failed_from(settings, None)
    buddy_fake.authorize()
    buddy_fake.outage()  # an unreachable service: run everything, and say why
    found = BuddyReader.failed_from(settings, None)
    assert found.nodeids == [] and found.message.startswith("testreport: cannot read Buddy (")
    assert found.message.endswith("); running all tests")


def test_failed_from_buddy_reruns_what_failed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(
        test_sel="""
        import os, pytest
        FAIL = set(os.environ.get("FAIL_THESE", "").split(","))
        @pytest.mark.parametrize("n", range(4))
        def test_param(n): assert f"p{n}" not in FAIL
        def test_b(): assert "b" not in FAIL
        """
    )
    use_fake(monkeypatch, buddy_fake, FAIL_THESE="p1,b", TESTREPORT_BRANCH="main")
    pytester.runpytest_subprocess("--testreport=buddy").assert_outcomes(passed=3, failed=2)
    run = pytester.runpytest_subprocess("--testreport-failed-from=buddy", "-v")
    run.assert_outcomes(failed=2)
    run.stdout.fnmatch_lines(
        ["*FAILED*test_sel.py::test_param?1?*", "*FAILED*test_sel.py::test_b*"]
    )


# -- bad input and configuration ---------------------------------------------------------------


def test_hostile_output_is_cleaned_and_bounded(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    pytester.makepyfile(
        test_bad="""
        import sys, pytest
        @pytest.mark.testreport_metadata(note="bell\\x07 and \\x1b[31mred")
        @pytest.mark.parametrize("v", [1], ids=["y" * 3000])
        def test_huge(v):
            print("out\\x00put \\x85 " * 50000)
            sys.stderr.write("\\ud800 err " * 50000)
            assert False, "\\n".join(f"line {i} \\x01" for i in range(5000))
        def test_deep():
            def recurse(n): return recurse(n + 1) if n < 400 else 1 / 0
            recurse(0)
        """
    )
    use_fake(monkeypatch, buddy_fake)
    pytester.runpytest_subprocess("--testreport=buddy", "--testreport-capture=all").assert_outcomes(
        failed=2
    )
    assert not [r for r in buddy_fake.requests if r.status and r.status >= 400], buddy_fake.errors
    assert_every_case_once(buddy_fake, 2)
    for case in buddy_fake.session.cases.values():
        assert len(case.data.encode()) <= 64 * 1024  # type: ignore[union-attr]
        assert "[truncated" in case.data  # type: ignore[operator]
    huge = next(c for c in buddy_fake.session.cases.values() if c.name.startswith("test_huge"))
    assert len(huge.name) == 1000
    assert ("note", "bell and red") in props(fragment(huge))


def test_configuration_errors_name_the_setting(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_c="def test_a(): pass\n")
    run = pytester.runpytest("--testreport=buddy")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "set BUDDY_UT_TOKEN" in "\n".join(run.errlines)
    monkeypatch.setenv("BUDDY_UT_TOKEN", "bud_ut_us_x")
    monkeypatch.setenv("BUDDY_API_URL", "ftp://nowhere")
    run = pytester.runpytest("--testreport=buddy")
    assert "invalid value 'ftp://nowhere' for BUDDY_API_URL" in "\n".join(run.errlines)
    monkeypatch.delenv("BUDDY_API_URL")
    monkeypatch.delenv("BUDDY_UT_TOKEN")
    assert cli("buddy", "open")[0] == 2  # no token at all: a usage error
    assert cli("list", "--target", "buddy")[0] == 2  # no PAT: a usage error
