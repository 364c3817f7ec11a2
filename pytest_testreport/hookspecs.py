"""Hooks other plugins and conftest files can implement to shape what is reported."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .model import Session, TestResult


@pytest.hookspec
def pytest_testreport_session(session: Session) -> None:
    """Called in the controller before the session is opened on any target; may modify it."""


@pytest.hookspec
def pytest_testreport_result(result: TestResult) -> None:
    """Called in the controller for every result before it is queued; may modify it.

    Runs on the test's path: keep it fast and free of I/O. (Without an implementation, results
    are assembled off the test's thread.)
    """
