"""One adapter per target for the shared outcome suite (tests/test_outcome_suite.py).

An adapter turns a target on for a run under test (pointing it at its fake) and reads back, from
the fake or the store, every attempt of every test as a :class:`Seen`: the outcome in pytest's
words as far as the target records it, the service's own word for it, and the failure text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import pytest

from pytest_testreport.targets.buddy.junit import parse_data

from .buildkite_helpers import CI_VARIABLES, nodeid, records
from .conftest import latest
from .fakes import FakeBrowserStack, FakeBuddy, FakeBuildkite

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@dataclass(frozen=True)
class Seen:
    """One attempt of one test, as a target recorded it."""

    nodeid: str
    attempt: int
    final: bool
    outcome: str  # passed, failed, error, skipped, xfailed or xpassed
    status: str  # the service's own word for it (the local store: the outcome)
    text: str  # failure message and traceback lines, "" when there is none
    reason: Optional[str] = None
    phase: Optional[str] = None  # the failing phase: setup, call, teardown, collect, crash
    kind: str = "test"  # test, collection_error or crash


class Adapter:
    """Turns one target on and reads back what it recorded."""

    name: ClassVar[str]
    # The service's status for each outcome (what its mapping promises).
    status: ClassVar[dict[str, str]]
    # Outcomes whose skip/xfail reason the target records, and whether it records the phase.
    reasons: ClassVar[frozenset[str]] = frozenset()
    phases: ClassVar[bool] = False

    def __init__(self, fake: Any = None) -> None:
        self.fake = fake

    def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in self.fake.env().items():
            monkeypatch.setenv(name, value)

    def args(self) -> list[str]:
        return [f"--testreport={self.name}", "--testreport-flush-timeout=20"]

    def read(self, pytester: pytest.Pytester) -> list[Seen]:
        raise NotImplementedError

    def final(self, pytester: pytest.Pytester) -> dict[str, Seen]:
        """The final attempt of each test by node id; fails on a test recorded twice."""
        out: dict[str, Seen] = {}
        for seen in self.read(pytester):
            if seen.final:
                assert seen.nodeid not in out, f"{self.name}: {seen.nodeid} recorded twice"
                out[seen.nodeid] = seen
        return out


class LocalAdapter(Adapter):
    name = "local"
    status: ClassVar[dict[str, str]] = {outcome: outcome for outcome in OUTCOMES}
    reasons = frozenset({"skipped", "xfailed", "xpassed"})
    phases = True

    def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The local store needs no service."""

    def read(self, pytester: pytest.Pytester) -> list[Seen]:
        seen = []
        for test in latest(pytester)["tests"]:
            failure = test["failure"] or {}
            seen.append(
                Seen(
                    test["nodeid"],
                    test["attempt"],
                    test["final"],
                    test["outcome"],
                    test["outcome"],
                    "\n".join([failure.get("message", ""), *failure.get("traceback", [])]).strip(),
                    test["reason"],
                    failure.get("phase"),
                    test["kind"],
                )
            )
        return seen


class BuddyAdapter(Adapter):
    """A case holds the final attempt; its ``data`` lists the earlier ones."""

    name = "buddy"
    status: ClassVar[dict[str, str]] = {
        "passed": "PASSED", "failed": "FAILED", "error": "ERROR", "skipped": "SKIPPED",
        "xfailed": "SKIPPED", "xpassed": "PASSED",
    }  # fmt: skip
    reasons = frozenset({"skipped", "xfailed"})
    phases = True
    fake: FakeBuddy

    def read(self, pytester: pytest.Pytester) -> list[Seen]:
        seen = []
        for case in self.fake.session.cases.values():
            data = parse_data(case.data)
            for earlier in data["earlier"]:
                text = "\n".join([earlier["message"], *earlier["traceback"]])
                seen.append(Seen(data["nodeid"], earlier["attempt"], False, earlier["outcome"],
                                 "", text.strip(), kind=data.get("kind", "test")))  # fmt: skip
            failure = data.get("failure") or {}
            text = "\n".join([failure.get("message", ""), *failure.get("traceback", [])])
            seen.append(
                Seen(
                    data["nodeid"],
                    data.get("attempts", 1),
                    True,
                    data["outcome"],
                    case.status,
                    text.strip(),
                    data.get("reason"),
                    failure.get("phase") or None,
                    data.get("kind", "test"),
                )
            )
        return seen


class BrowserStackAdapter(Adapter):
    """Every attempt is a test run; ``custom_metadata`` says what pytest said."""

    name = "browserstack"
    status: ClassVar[dict[str, str]] = {
        "passed": "passed", "failed": "failed", "error": "failed", "skipped": "skipped",
        "xfailed": "skipped", "xpassed": "passed",
    }  # fmt: skip
    reasons = frozenset({"skipped", "xfailed", "xpassed"})
    phases = True
    fake: FakeBrowserStack
    # custom_metadata's pytest.outcome names the kind of an error result
    KINDS: ClassVar[dict[str, str]] = {"collection_error": "collection_error", "crashed": "crash"}

    def read(self, pytester: pytest.Pytester) -> list[Seen]:
        seen = []
        for run in self.fake.build.tests.values():
            assert run.finish is not None, f"{run.name} never finished"
            meta = run.finish["custom_metadata"]
            lines = [line for f in run.finish.get("failure", []) for line in f["backtrace"]]
            outcome = meta["pytest.outcome"]
            seen.append(
                Seen(
                    meta["pytest.nodeid"],
                    int(meta["attempt"]),
                    meta.get("pytest.final") != "false",
                    "error" if outcome in self.KINDS else outcome,
                    run.result or "",
                    "\n".join(lines),
                    meta.get("pytest.reason"),
                    meta.get("pytest.phase"),
                    self.KINDS.get(outcome, "test"),
                )
            )
        return seen


class BuildkiteAdapter(Adapter):
    """Every attempt is an execution; tags say what ``result`` cannot (error, xfail, xpass)."""

    name = "buildkite"
    status: ClassVar[dict[str, str]] = {
        "passed": "passed", "failed": "failed", "error": "failed", "skipped": "skipped",
        "xfailed": "skipped", "xpassed": "passed",
    }  # fmt: skip
    fake: FakeBuildkite

    def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in CI_VARIABLES:  # outside CI: one run per session, keyed by its uuid
            monkeypatch.delenv(name, raising=False)
        super().start(monkeypatch)

    def args(self) -> list[str]:
        return [*super().args(), "--testreport-batch-age=0.2"]

    @staticmethod
    def outcome(record: dict[str, Any]) -> str:
        tags = record["tags"]
        if "test.pytest_collection_error" in tags:
            return "error"
        told = tags.get("pytest.outcome")
        if told in ("error", "crashed"):
            return "error"
        if told == "xpassed" and record["result"] == "failed":
            return "failed"  # a strict xpass fails the test
        return told or record["result"]

    @staticmethod
    def kind(record: dict[str, Any]) -> str:
        tags = record["tags"]
        if "test.pytest_collection_error" in tags:
            return "collection_error"
        return "crash" if tags.get("pytest.outcome") == "crashed" else "test"

    def read(self, pytester: pytest.Pytester) -> list[Seen]:
        seen = []
        for record in records(self.fake):
            lines = [record.get("failure_reason", "")]
            for part in record.get("failure_expanded", []):
                lines += part["expanded"]
            seen.append(
                Seen(
                    nodeid(record),
                    int(record["tags"]["test.attempt"]),
                    record["tags"].get("pytest.rerun") != "true",
                    self.outcome(record),
                    record["result"],
                    "\n".join(lines).strip(),
                    kind=self.kind(record),
                )
            )
        return seen


ADAPTERS: dict[str, type[Adapter]] = {
    a.name: a for a in (LocalAdapter, BuddyAdapter, BrowserStackAdapter, BuildkiteAdapter)
}
FAKES = {"buddy": "buddy_fake", "browserstack": "browserstack_fake", "buildkite": "buildkite_fake"}


@pytest.fixture(params=list(ADAPTERS))
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Adapter:
    """Each target in turn, on and pointed at its fake."""
    name = request.param
    fake = request.getfixturevalue(FAKES[name]) if name in FAKES else None
    adapter = ADAPTERS[name](fake)
    adapter.start(monkeypatch)
    return adapter
