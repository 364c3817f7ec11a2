"""Property-based tests: arbitrary text through the engine's cleaning pass, every target's
mapping (sent over HTTP to the fakes, which enforce the services' documented limits) and the
local store.

Text includes what breaks encoders and services: lone surrogates, NUL and other control
characters, right-to-left marks, and 1 MB strings. The example count is bounded (profile
``testreport-fuzz``) so that the normal suite stays quick; raise it with
``HYPOTHESIS_PROFILE=testreport-fuzz-long``.
"""

from __future__ import annotations

import itertools
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_testreport.config import settings_from_env
from pytest_testreport.engine.scrub import Scrubber, valid_text
from pytest_testreport.model import (
    Failure,
    LogEntry,
    Outcome,
    Session,
    Step,
    TestId,
    TestResult,
    TestStart,
)
from pytest_testreport.reading import metadata_object
from pytest_testreport.targets.browserstack.target import BrowserStackTarget
from pytest_testreport.targets.buddy.target import BuddyTarget
from pytest_testreport.targets.buildkite.target import BuildkiteTarget
from pytest_testreport.targets.local.reader import LocalReader
from pytest_testreport.targets.local.target import LocalTarget

from .fakes.base import FakeService
from .fakes.browserstack import FakeBrowserStack
from .fakes.buddy import FakeBuddy
from .fakes.buildkite import FakeBuildkite
from .fakes.checks import bad_text

_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
           HealthCheck.function_scoped_fixture]  # fmt: skip
settings.register_profile("testreport-fuzz", max_examples=10, deadline=None, database=None,
                          suppress_health_check=_CHECKS)  # fmt: skip
settings.register_profile("testreport-fuzz-long", max_examples=500, deadline=None,
                          suppress_health_check=_CHECKS)  # fmt: skip
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "")  # another project's profile name is ignored
FUZZ = settings.get_profile(
    _PROFILE if _PROFILE.startswith("testreport-fuzz") else "testreport-fuzz"
)

M = TypeVar("M", TestResult, TestStart)
MEGABYTE = 1_000_000
SECRET = "Zk4FUZZsecret66"
T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
_ids = itertools.count()

# Every code point, surrogates included, with the awkward ones made likely.
_chars = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.sampled_from(["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u200f", "\u202e", "\ud800",
                     "\udfff", "\ufeff", "\n", "\t", "\r"]),
)  # fmt: skip
_short = st.text(_chars, max_size=40)
_huge = st.text(_chars, min_size=1, max_size=8).map(
    lambda s: (s * (MEGABYTE // len(s) + 1))[:MEGABYTE]
)
text = st.one_of(_short, _short.map(lambda s: f"{s}{SECRET}{s}"), _huge)
small = st.one_of(_short, _short.map(lambda s: f"{s}{SECRET}"))


def make_result(
    name: str,
    param: str,
    message: str,
    stdout: str,
    texts: list[str],
    metadata: list[tuple[str, str]],
    outcome: Outcome = Outcome.FAILED,
) -> TestResult:
    """A test attempt carrying ``texts`` in its traceback, log records and steps."""
    return TestResult(
        test=TestId(nodeid=f"tests/test_fuzz.py::test_{name}[{param}]", path="tests/test_fuzz.py",
                    name=f"test_{name}[{param}]", line=1),
        outcome=outcome, started_at=T0,
        finished_at=T0 + timedelta(seconds=1), uuid=f"00000000-0000-4000-8000-{next(_ids):012x}",
        failures=[Failure(message=message, phase="call", traceback=texts)],
        stdout=stdout, log="\n".join(texts)[:1000],
        logs=[LogEntry(timestamp=T0, level="WARNING", message=t) for t in texts],
        steps=[Step(text=t, started_at=T0, finished_at=T0) for t in texts],
        metadata=metadata,
    )  # fmt: skip


results = st.builds(
    make_result, small, text, text, text, st.lists(text, max_size=3),
    st.lists(st.tuples(small, text), max_size=4),
    st.sampled_from([Outcome.FAILED, Outcome.PASSED, Outcome.ERROR]),
)  # fmt: skip
# Always tried: every awkward character in every field, and megabyte strings.
AWKWARD = "\ud800 \udfff \x00 \x1b \u202e \u200f \ufeff " + SECRET
worst = make_result(AWKWARD, AWKWARD, AWKWARD, AWKWARD, [AWKWARD] * 3, [(AWKWARD, AWKWARD)] * 2)
huge = make_result("big", "x" * MEGABYTE, "\ud800" * MEGABYTE, "é" * MEGABYTE,
                   ["\u202e" * MEGABYTE], [("k" * MEGABYTE, "\x00" * MEGABYTE)])  # fmt: skip


def cleaned(item: M) -> M:
    """What every target gets: the engine's one pass, with the fuzz secret known."""
    return Scrubber([SECRET]).clean(item)


def assert_text_valid(value: Any, where: str = "payload") -> None:
    """Every string a target sent: encodable, and without the secret."""
    if isinstance(value, str):
        value.encode("utf-8")  # raises on a surrogate
        assert SECRET not in value, where
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_text_valid(key, where)
            assert_text_valid(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            assert_text_valid(item, where)


def assert_accepted(fake: FakeService) -> None:
    """The fake checks each request against the service's documented limits."""
    refused = [
        (r.method, r.path, r.status, r.error) for r in fake.requests if (r.status or 0) >= 400
    ]
    assert not refused, refused
    for request in fake.requests:
        if request.body:
            assert_text_valid(request.json, request.path)


def run_settings(fake: Any, tmp_path: Path) -> Any:
    """Settings of a pytest run (not the CLI's) that reports to ``fake``."""
    settings = settings_from_env(fake.env(), tmp_path)
    return settings.model_copy(update={"targets": (type(fake).__name__.lower()[4:],)})


def deliver(target: Any, raw: TestResult, live_start: bool = False) -> None:
    """A session with one result, each item cleaned as the engine cleans it before fan-out."""
    session = Session(uuid=f"00000000-0000-4000-9000-{next(_ids):012x}", started_at=T0)
    target.open_session(session)
    if live_start:
        start = TestStart(uuid=raw.uuid, test=raw.test, started_at=T0,
                          metadata=list(raw.metadata))  # fmt: skip
        target.send_start(session, cleaned(start))
    result = cleaned(raw)
    target.send_batch(session, [result], {})
    session.count(result)
    session.finish()
    target.close_session(session)
    target.release()


@FUZZ
@given(result=results)
@example(result=worst)
@example(result=huge)
def test_buildkite_mapping(
    result: TestResult, buildkite_fake: FakeBuildkite, tmp_path: Path
) -> None:
    buildkite_fake.requests.clear()
    target = BuildkiteTarget.from_settings(run_settings(buildkite_fake, tmp_path))
    deliver(target, result)
    assert_accepted(buildkite_fake)


@FUZZ
@given(result=results)
@example(result=worst)
@example(result=huge)
def test_browserstack_mapping(
    result: TestResult, browserstack_fake: FakeBrowserStack, tmp_path: Path
) -> None:
    browserstack_fake.requests.clear()
    target = BrowserStackTarget.from_settings(run_settings(browserstack_fake, tmp_path))
    deliver(target, result, live_start=True)
    assert_accepted(browserstack_fake)


@FUZZ
@given(result=results)
@example(result=worst)
@example(result=huge)
def test_buddy_mapping(result: TestResult, buddy_fake: FakeBuddy, tmp_path: Path) -> None:
    buddy_fake.requests.clear()
    target = BuddyTarget.from_settings(run_settings(buddy_fake, tmp_path))
    deliver(target, result)
    assert_accepted(buddy_fake)


@FUZZ
@given(result=results)
@example(result=worst)
@example(result=huge)
def test_store_reads_back_the_valid_input(result: TestResult, tmp_path: Path) -> None:
    store = tmp_path / f"results-{next(_ids)}.sqlite"  # each example (and replay) its own
    clean = cleaned(result.model_copy(deep=True))
    target = LocalTarget(store)
    deliver(target, clean)
    reader = LocalReader(store)
    try:
        (test,) = reader.get_session(str(target.session_id), None)["tests"]
    finally:
        reader.close()
    assert test["nodeid"] == valid_text(result.nodeid).replace(SECRET, "***")
    assert test["nodeid"] == clean.nodeid and test["name"] == clean.name
    assert clean.failure is not None
    if result.outcome is not Outcome.PASSED:
        assert test["failure"]["message"] == clean.failure.message
    assert [s["text"] for s in test["steps"]] == [s.text for s in clean.steps]
    assert test["metadata"] == metadata_object(clean.metadata)
    assert_text_valid(test, "store")


@FUZZ
@given(value=text)
def test_valid_text_is_encodable_and_keeps_everything_else(value: str) -> None:
    made = valid_text(value)
    made.encode("utf-8")
    assert len(made) == len(value)
    assert all(a == b or 0xD800 <= ord(a) <= 0xDFFF for a, b in zip(value, made))


def test_the_fakes_refuse_invalid_text() -> None:
    """The checks the properties rely on do catch what the cleaning removes."""
    assert bad_text("a\ud800") is not None and bad_text("a\x00") is not None
    with pytest.raises(UnicodeEncodeError):
        "\ud800".encode("utf-8")
