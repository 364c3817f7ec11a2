"""Fake Buddy, BrowserStack and Buildkite services over loopback HTTP, for the test suite.

Load the fixtures with ``pytest_plugins = ["tests.fakes.plugin"]`` (or ``-p tests.fakes.plugin``).
"""

from __future__ import annotations

from .base import FakeService, RecordedRequest, Reject, Reply
from .browserstack import BsBuild, BsEvent, BsRun, FakeBrowserStack
from .buddy import BuddyCase, BuddySession, FakeBuddy
from .buildkite import BkExecution, BkRun, BkUpload, FakeBuildkite
from .faults import AUTO

__all__ = [
    "AUTO",
    "BkExecution",
    "BkRun",
    "BkUpload",
    "BsBuild",
    "BsEvent",
    "BsRun",
    "BuddyCase",
    "BuddySession",
    "FakeBrowserStack",
    "FakeBuddy",
    "FakeBuildkite",
    "FakeService",
    "RecordedRequest",
    "Reject",
    "Reply",
]
