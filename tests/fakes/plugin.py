"""Pytest fixtures: one fake service per test, started on 127.0.0.1 and stopped afterwards.

Load with ``pytest_plugins = ["pytester", "tests.fakes.plugin"]`` in ``tests/conftest.py``.
Every credential here is an obviously fake test value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from .base import FakeService
from .browserstack import FakeBrowserStack
from .buddy import FakeBuddy
from .buildkite import FakeBuildkite

BUDDY_TOKEN = "bud_ut_us_FAKEsuiteTOKEN0000"
BUDDY_PAT = "fake-buddy-pat-0000"
BROWSERSTACK_USERNAME = "fake-bs-user"
BROWSERSTACK_ACCESS_KEY = "fake-bs-access-key"
BUILDKITE_TOKEN = "fake-bk-suite-token"
BUILDKITE_API_TOKEN = "fake-bk-api-token"


F = TypeVar("F", bound=FakeService)


def _serve(fake: F) -> Iterator[F]:
    with fake:
        yield fake
    if fake.errors:  # a bug in the fake itself must not pass silently
        pytest.fail(f"{type(fake).__name__} raised internally:\n{fake.errors[0]}")


@pytest.fixture
def buddy_fake() -> Iterator[FakeBuddy]:
    """A :class:`FakeBuddy`; point the plugin at it with ``fake.env()``."""
    yield from _serve(FakeBuddy(BUDDY_TOKEN, pat=BUDDY_PAT))


@pytest.fixture
def browserstack_fake() -> Iterator[FakeBrowserStack]:
    """A :class:`FakeBrowserStack` with the published rate limit (1600 / 300 s) on."""
    yield from _serve(FakeBrowserStack(BROWSERSTACK_USERNAME, BROWSERSTACK_ACCESS_KEY))


@pytest.fixture
def buildkite_fake() -> Iterator[FakeBuildkite]:
    """A :class:`FakeBuildkite` (upload API at ``fake.url``, REST API at ``fake.rest_url``)."""
    yield from _serve(FakeBuildkite(BUILDKITE_TOKEN, BUILDKITE_API_TOKEN))
