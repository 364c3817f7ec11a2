"""Shared helpers: run pytest with the plugin and read back what the store recorded."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.cli import main as cli_main

from .engine_helpers import CollectFake
from .helpers_store import SampleStore

pytest_plugins = ["pytester", "tests.fakes.plugin"]

# Variables that would turn targets on, or change settings, in the runs under test.
_LEAKY_PREFIXES = ("TESTREPORT", "BUDDY_", "BROWSERSTACK_", "BUILDKITE_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(name)
    # A CI running this suite must not get the runs under test in its job summary.
    for name in ("GITHUB_STEP_SUMMARY", "BUILDKITE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """100 columns, no colors: what the CLI tests assert, whatever terminal runs them."""
    monkeypatch.setenv("COLUMNS", "100")
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SampleStore:
    """A sample store in ``proj/.testreport/``, with ``proj`` as the working directory."""
    made = SampleStore(tmp_path / "proj" / ".testreport" / "results.sqlite")
    monkeypatch.chdir(tmp_path / "proj")
    return made


@pytest.fixture
def collect_fake() -> Iterator[CollectFake]:
    """The engine tests' generic collecting service, on 127.0.0.1."""
    service = CollectFake()
    yield service
    service.stop()


def cli_json(*args: str) -> Any:
    """Run the CLI in-process and parse its ``--json`` output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main([*args, "--json"])
    assert code == 0, out.getvalue()
    return json.loads(out.getvalue())


def store_path(pytester: pytest.Pytester) -> Path:
    return pytester.path / ".testreport" / "results.sqlite"


def latest(pytester: pytest.Pytester) -> dict[str, Any]:
    """The newest session of the run under test, with every attempt of every test."""
    return cli_json("show", "latest", "--store", str(store_path(pytester)))


def by_nodeid(session: dict[str, Any], final_only: bool = True) -> dict[str, dict[str, Any]]:
    tests = [t for t in session["tests"] if t["final"] or not final_only]
    nodeids = [t["nodeid"] for t in tests]
    assert len(nodeids) == len(set(nodeids)), f"duplicate results: {sorted(nodeids)}"
    return {t["nodeid"]: t for t in tests}
