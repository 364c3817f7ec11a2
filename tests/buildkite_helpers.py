"""Shared pieces of the Buildkite target's tests: the environment, runs and what the fake got."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import mangle_test_address

from tests.fakes.buildkite import FakeBuildkite

# Variables that make ci.py detect a provider (and so a build key) in the runs under test.
CI_VARIABLES = (
    "CI", "GITHUB_ACTIONS", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_REF", "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME", "GITLAB_CI", "CIRCLECI", "BUILDKITE", "BUDDY", "JENKINS_URL", "BUILD_TAG",
    "TF_BUILD", "BITBUCKET_BUILD_NUMBER",
)  # fmt: skip

FAST = ("--testreport=buildkite", "--testreport-batch-age=0.2", "--testreport-flush-timeout=15",
        "-p", "no:cacheprovider")  # fmt: skip

# A suite with every outcome: what junit calls passed/failed/error/skipped, and a file that
# does not import.
SUITE = {
    "test_alpha": """
        import pytest
        from pytest_testreport import metadata, step

        @pytest.fixture
        def broken():
            raise RuntimeError("no database")

        @pytest.fixture
        def bad_teardown():
            yield
            raise RuntimeError("cleanup failed")

        def test_pass():
            with step("login", keyword="Given"):
                metadata("team", "core")

        def test_fail(): assert 0, "alpha failed"
        def test_error(broken): pass
        def test_teardown_error(bad_teardown): pass

        @pytest.mark.parametrize("n", range(6))
        def test_param(n): assert n != 4

        class TestGroup:
            def test_one(self): pass
            @pytest.mark.skip(reason="later")
            def test_two(self): pass
        """,
    "test_beta": """
        import pytest

        @pytest.mark.xfail(reason="known")
        def test_xfail(): assert 0

        @pytest.mark.xfail(reason="maybe")
        def test_xpass(): pass

        @pytest.mark.xfail(reason="strict", strict=True)
        def test_strict(): pass

        @pytest.mark.parametrize("i", ["a b", "c::d", "e"])
        def test_ids(i): pass
        """,
    "test_broken_import": "import no_such_module_anywhere\n\ndef test_never(): pass\n",
}


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeBuildkite, **extra: str) -> None:
    """Point the runs under test (and the CLI) at ``fake``, outside any CI."""
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**fake.env(), **extra}.items():
        monkeypatch.setenv(name, value)


def records(fake: FakeBuildkite) -> list[dict[str, Any]]:
    """Every record the fake stored, repeats included."""
    return [e.data for e in fake.executions]


def nodeid(record: dict[str, Any]) -> str:
    if record["tags"].get("test.pytest_collection_error") == "true":
        return record["scope"]
    return f"{record['scope']}::{record['name']}" if record["scope"] else record["name"]


def final(fake: FakeBuildkite) -> dict[str, dict[str, Any]]:
    """The final attempt of every test, by node id; fails on a repeated record."""
    ids = Counter(r["id"] for r in records(fake))
    assert not [i for i, n in ids.items() if n > 1], "a record was stored twice"
    out: dict[str, dict[str, Any]] = {}
    for record in records(fake):
        if record["tags"].get("pytest.rerun") != "true":
            assert nodeid(record) not in out, f"two final attempts of {nodeid(record)}"
            out[nodeid(record)] = record
    return out


def junit_kind(record: dict[str, Any]) -> str:
    """What junit calls the outcome of this record."""
    tags = record["tags"]
    if record["result"] == "failed" and (
        tags.get("pytest.outcome") in ("error", "crashed") or "test.pytest_collection_error" in tags
    ):
        return "error"
    return record["result"]


def our_outcomes(fake: FakeBuildkite) -> dict[tuple[str, str], str]:
    outcomes = {}
    for node, record in final(fake).items():
        names = mangle_test_address(node)
        outcomes[(".".join(names[:-1]), names[-1])] = junit_kind(record)
    return outcomes


def def_lines(path: Path) -> dict[str, int]:
    """1-based line of every ``def test_...`` in a file."""
    lines = path.read_text().splitlines()
    return {
        line.strip().split("(")[0][len("def ") :]: number
        for number, line in enumerate(lines, 1)
        if line.strip().startswith("def test_")
    }
