"""BrowserStack's bulk lane (issue 16, item 1): the lane rule, the JUnit document, the upload.

The JUnit documents are checked against ``tests/schemas/junit.xsd`` (Surefire's elements with
pytest's ``file``/``line``; see its header). Every run talks HTTP to the fake's ``/upload``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from pytest_testreport.model import Failure, Outcome, Session, TestResult
from pytest_testreport.targets.browserstack import junit as bsjunit
from pytest_testreport.targets.browserstack.lane import JUNIT, LIVE, Budget, choose

from .browserstack_helpers import check_build, replay, run, use_fake
from .fakes import FakeBrowserStack

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parent / "schemas" / "junit.xsd"))
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
DEFAULT = Budget(1600, 300, deadline=30.0)


# -- the lane rule ------------------------------------------------------------------------------
def test_a_small_suite_stays_live_and_a_large_one_goes_by_upload() -> None:
    assert choose("auto", 200, DEFAULT, expected=20.0) == LIVE  # the example
    assert choose("auto", 100, DEFAULT) == LIVE  # fits the burst and the deadline
    assert choose("auto", 2000, DEFAULT) == JUNIT  # the case: 910 of 2,000 arrived
    assert choose("auto", 2000, DEFAULT, expected=20.0) == JUNIT


def test_the_threshold_is_where_the_budget_runs_out() -> None:
    most = DEFAULT.most_tests()
    assert most == 152  # (160 burst + 4.8/s × 30 s) / 2 requests per test
    assert choose("auto", most, DEFAULT) == LIVE
    assert choose("auto", most + 1, DEFAULT) == JUNIT
    # A longer suite spreads its requests: more tests stay live.
    assert DEFAULT.most_tests(expected=600.0) > 1500


def test_the_per_ip_limit_and_the_connections_bound_the_rate() -> None:
    generous = Budget(10**6, 1, deadline=30.0, concurrency=1000, latency=0.001)
    assert generous.flow_rate == 160.0  # BrowserStack's 160 requests per second per IP
    assert generous.most_tests() == 160 * 30 // 2
    slow = Budget(10**6, 1, deadline=30.0, concurrency=4, latency=2.0)
    assert slow.flow_rate == 2.0  # four connections at 2 s each
    assert choose("auto", 30, slow) == LIVE and choose("auto", 31, slow) == JUNIT


def test_the_option_wins_and_an_unknown_count_stays_live() -> None:
    assert choose("live", 10**6, DEFAULT) == LIVE
    assert choose("junit", 1, DEFAULT) == JUNIT
    assert choose("auto", None, DEFAULT) == LIVE  # collection never finished: today's lane


# -- the document -------------------------------------------------------------------------------
def result(nodeid: str, outcome: Outcome = Outcome.PASSED, **over: Any) -> TestResult:
    path = nodeid.split("::")[0]
    base: dict[str, Any] = {
        "nodeid": nodeid, "path": path, "name": nodeid.rsplit("::", 1)[-1], "line": 3,
        "outcome": outcome, "duration": 0.5, "started_at": T0,
        "finished_at": T0 + timedelta(seconds=0.5),
    }  # fmt: skip
    if outcome in (Outcome.FAILED, Outcome.ERROR):
        phase = "call" if outcome is Outcome.FAILED else "setup"
        base["failure"] = Failure(message="AssertionError: no", phase=phase,
                                  traceback=["def test(): assert 0", "E  assert 0"])  # fmt: skip
    base.update(over)
    return TestResult.model_validate(base)


def suite_results() -> list[TestResult]:
    return [
        result("t/test_a.py::test_ok", stdout="printed", metadata=[("ticket", "PROJ-1")]),
        result("t/test_a.py::test_bad", Outcome.FAILED, stderr="warned", log="INFO x"),
        result("t/test_a.py::TestC::test_err", Outcome.ERROR),
        result("t/test_b.py::test_skip", Outcome.SKIPPED, reason="later"),
        result("t/test_b.py::test_xf", Outcome.XFAILED, reason="known"),
        # A flaky test: failed, then passed on its rerun.
        result("t/test_b.py::test_flaky", Outcome.FAILED, attempt=1, final=False),
        result("t/test_b.py::test_flaky", Outcome.PASSED, attempt=2),
        # Failed on every attempt.
        result("t/test_b.py::test_broken", Outcome.FAILED, attempt=1, final=False),
        result("t/test_b.py::test_broken", Outcome.FAILED, attempt=2),
    ]


def cases_by_name(document: bytes) -> dict[str, Any]:
    tree = SCHEMA.to_dict(document.decode())  # raises unless the document is valid
    assert tree is not None
    found: dict[str, Any] = {}
    for suite in tree.get("testsuite", []):
        for case in suite.get("testcase", []):
            assert f"{suite['@name']}::{case['@name']}" not in found
            found[f"{suite['@name']}::{case['@name']}"] = case
    return found


def test_the_document_is_valid_junit_with_every_test_once_and_its_attempts() -> None:
    session = Session(pytest_version="8.3.2", hostname="host")
    (document,) = bsjunit.documents(session, suite_results())
    SCHEMA.validate(document.decode())
    cases = cases_by_name(document)
    assert len(cases) == 7  # every test once, whatever its attempts
    bad = cases["t/test_a.py::test_bad"]
    assert bad["failure"]["@message"] == "AssertionError: no"
    assert "E  assert 0" in bad["failure"]["$"]
    assert bad["system-err"] == "warned" and "INFO x" in bad["system-out"]
    assert "error" in cases["t/test_a.py::test_err"]
    assert cases["t/test_b.py::test_skip"]["skipped"]["@message"] == "later"
    ok = cases["t/test_a.py::test_ok"]
    assert (ok["@file"], ok["@line"], ok["system-out"]) == ("t/test_a.py", 3, "printed")
    props = {p["@name"]: p["@value"] for p in ok["properties"]["property"]}
    assert props["ticket"] == "PROJ-1" and props["pytest.nodeid"] == "t/test_a.py::test_ok"
    flaky = cases["t/test_b.py::test_flaky"]  # passed in the end: Surefire's flakyFailure
    assert "failure" not in flaky and len(flaky["flakyFailure"]) == 1
    assert flaky["flakyFailure"][0]["@message"].startswith("attempt 1:")
    broken = cases["t/test_b.py::test_broken"]  # failed on every attempt: rerunFailure
    assert "failure" in broken and len(broken["rerunFailure"]) == 1


def test_a_document_over_the_limit_is_split_at_test_cases() -> None:
    session = Session(pytest_version="8.3.2")
    many = [result(f"t/test_{i % 3}.py::test_{i}", stdout="x" * 2000) for i in range(60)]
    documents = bsjunit.documents(session, many, limit=20_000)
    assert len(documents) > 3
    seen: list[str] = []
    for document in documents:
        assert len(document) <= 20_000
        seen.extend(cases_by_name(document))  # each part is a valid document of its own
    assert sorted(seen) == sorted(f"{r.path}::{r.name}" for r in many)  # each test once


def test_the_form_carries_the_run_identity() -> None:
    session = Session(pytest_version="8.3.2")
    session.ci.provider, session.ci.is_ci = "github_actions", True
    session.ci.run_id, session.ci.run_url = "77", "https://ci.example/run/77"
    fields = bsjunit.form_fields(session, "proj", "nightly", ["a", "b"],
                                 bsjunit.build_identifier(session))  # fmt: skip
    assert fields == {"projectName": "proj", "buildName": "nightly",
                      "buildIdentifier": "github_actions-77", "tags": "a,b",
                      "ci": "https://ci.example/run/77",
                      "frameworkVersion": "pytest, 8.3.2"}  # fmt: skip


# -- runs against the fake ------------------------------------------------------------------------
TWENTY = """
import pytest
@pytest.mark.parametrize("i", range(20))
def test_p(i): assert i != 7
"""


def upload_cases(fake: FakeBrowserStack) -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for upload in fake.uploads:
        for name, case in cases_by_name(upload.data).items():
            assert name not in cases, f"{name} uploaded twice"
            cases[name] = case
    return cases


def spooled(pytester: pytest.Pytester) -> list[Path]:
    return list((pytester.path / ".testreport" / "spool").glob("browserstack-*.jsonl"))


def test_a_small_suite_goes_live(pytester, monkeypatch, browserstack_fake) -> None:
    use_fake(monkeypatch, browserstack_fake)
    pytester.makepyfile(test_p=TWENTY)
    res = run(pytester)
    res.assert_outcomes(passed=19, failed=1)
    assert not browserstack_fake.uploads
    assert len(check_build(browserstack_fake)) == 20
    res.stdout.fnmatch_lines(["testreport browserstack: build * — 20 tests, 1 failed (live)"])


@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_a_suite_the_budget_cannot_carry_goes_by_one_upload(
    pytester, monkeypatch, browserstack_fake, delivery
) -> None:
    fake = browserstack_fake
    # 10 requests per 5 minutes cannot carry 20 tests live within the deadline.
    use_fake(monkeypatch, fake, TESTREPORT_BROWSERSTACK_RATE_LIMIT="10/300",
             BROWSERSTACK_BUILD_NAME="nightly")  # fmt: skip
    pytester.makepyfile(test_p=TWENTY)
    res = run(pytester, f"--testreport-delivery={delivery}")
    res.assert_outcomes(passed=19, failed=1)
    assert not fake.builds  # no /ext/v1 build: the upload is the session's one build
    (upload,) = fake.uploads
    fields = upload.fields
    assert fields["buildName"] == "nightly" and fields["projectName"]
    assert fields["frameworkVersion"] == f"pytest, {pytest.__version__}"
    assert fields["buildIdentifier"]
    cases = upload_cases(fake)
    assert len(cases) == 20
    assert sum("failure" in case for case in cases.values()) == 1
    res.stdout.fnmatch_lines(["testreport browserstack: 20 tests, 1 failed (junit upload)"])
    assert not spooled(pytester)


def test_reruns_are_attempts_of_one_testcase(pytester, monkeypatch, browserstack_fake) -> None:
    use_fake(monkeypatch, browserstack_fake, TESTREPORT_BROWSERSTACK_MODE="junit")
    counter = pytester.path / "count"
    pytester.makepyfile(test_r=f"""
        from pathlib import Path
        def test_flaky():
            path = Path({str(counter)!r})
            runs = int(path.read_text()) if path.exists() else 0
            path.write_text(str(runs + 1))
            assert runs >= 2, "not yet"
        def test_never(): assert 0, "never"
        def test_fine(): pass
        """)  # fmt: skip
    outcomes = run(pytester, "--reruns=2").parseoutcomes()
    assert (outcomes["passed"], outcomes["failed"], outcomes["rerun"]) == (2, 1, 4)
    cases = upload_cases(browserstack_fake)
    assert set(cases) == {"test_r.py::test_flaky", "test_r.py::test_never", "test_r.py::test_fine"}
    assert len(cases["test_r.py::test_flaky"]["flakyFailure"]) == 2
    assert len(cases["test_r.py::test_never"]["rerunFailure"]) == 2
    assert "flakyFailure" not in cases["test_r.py::test_fine"]


def test_xdist_sessions_are_one_upload(pytester, monkeypatch, browserstack_fake) -> None:
    use_fake(monkeypatch, browserstack_fake, TESTREPORT_BROWSERSTACK_RATE_LIMIT="10/300")
    pytester.makepyfile(test_p=TWENTY)
    run(pytester, "-n", "2").assert_outcomes(passed=19, failed=1)
    assert not browserstack_fake.builds and len(browserstack_fake.uploads) == 1
    assert len(upload_cases(browserstack_fake)) == 20


def test_a_refused_upload_is_retried(pytester, monkeypatch, browserstack_fake) -> None:
    fake = browserstack_fake
    use_fake(monkeypatch, fake, TESTREPORT_BROWSERSTACK_MODE="junit")
    fake.fail_next(2, 503, path="/upload$")  # not processed: sent again during the run
    pytester.makepyfile(test_p=TWENTY)
    run(pytester).assert_outcomes(passed=19, failed=1)
    assert len(fake.matching("POST", "/upload$")) == 3
    assert len(fake.uploads) == 1 and len(upload_cases(fake)) == 20
    assert not spooled(pytester)


def test_an_upload_that_cannot_be_sent_is_spooled_and_replayed_once(
    pytester, monkeypatch, browserstack_fake
) -> None:
    fake = browserstack_fake
    use_fake(monkeypatch, fake, TESTREPORT_BROWSERSTACK_MODE="junit")
    fake.outage()
    pytester.makepyfile(test_p=TWENTY)
    res = run(pytester, "--testreport-flush-timeout=3")
    res.assert_outcomes(passed=19, failed=1)
    assert not fake.uploads
    (journal,) = spooled(pytester)
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [e.get("state", {}).get("lane") for e in entries if e["kind"] == "state"] in (
        [],
        ["junit"],
    )
    assert sum(len(e["results"]) for e in entries if e["kind"] == "results") == 20
    fake.recover()
    code, out = replay(pytester)
    assert code == 0, out
    assert len(fake.uploads) == 1 and len(upload_cases(fake)) == 20
    assert not fake.builds  # replay took the junit lane too
    code, out = replay(pytester)  # nothing left: never uploaded twice
    assert code == 0 and len(fake.uploads) == 1, out


def test_an_upload_whose_answer_was_lost_is_sent_again_to_the_same_build(
    pytester, monkeypatch, browserstack_fake
) -> None:
    """The documented grouping by build identifier is how a lost answer stays one build."""
    fake = browserstack_fake
    use_fake(monkeypatch, fake, TESTREPORT_BROWSERSTACK_MODE="junit")
    fake.lose_next(1, path="/upload$")
    pytester.makepyfile(test_p=TWENTY)
    run(pytester).assert_outcomes(passed=19, failed=1)
    assert len(fake.uploads) == 1  # processed, but the plugin never heard it
    (journal,) = spooled(pytester)
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    (batch,) = [e for e in entries if e["kind"] == "results"]
    assert batch["progress"] == {"parts": [], "maybe_sent": 0} and len(batch["results"]) == 20
    code, out = replay(pytester)
    assert code == 0, out
    assert len(fake.uploads) == 2
    assert len({upload.identifier for upload in fake.uploads}) == 1


def test_junit_cannot_join_a_started_build(pytester, monkeypatch, browserstack_fake) -> None:
    use_fake(monkeypatch, browserstack_fake, TESTREPORT_BROWSERSTACK_MODE="junit",
             TESTREPORT_BROWSERSTACK_BUILD_ID="abc")  # fmt: skip
    pytester.makepyfile(test_p=TWENTY)
    res = run(pytester)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*testreport_browserstack_mode = junit cannot join a started build*"])


def test_a_target_used_outside_a_run_does_not_wait_for_a_plan(browserstack_fake, tmp_path) -> None:
    """Only the engine plans: a target opened directly (not bound to a run) goes live at once."""
    import threading

    from pytest_testreport.config import settings_from_env
    from pytest_testreport.targets.browserstack.target import BrowserStackTarget

    settings = settings_from_env(browserstack_fake.env(), tmp_path)
    settings = settings.model_copy(update={"targets": ("browserstack",)})  # a run's, not replay's
    target = BrowserStackTarget.from_settings(settings)
    opening = threading.Thread(target=target.open_session, args=(Session(),), daemon=True)
    opening.start()
    opening.join(10)
    assert not opening.is_alive(), "open_session waited for a plan nobody sends"
    assert target.lane == LIVE and len(browserstack_fake.builds) == 1
