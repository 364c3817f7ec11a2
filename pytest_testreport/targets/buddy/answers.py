"""What Buddy's workspace API answers (reference: ``TestSessionView``, ``TestCaseView``), as
the reader reads it.

Every field the API may leave out or null is optional; a session must have its ``id`` (every
other read goes through it). Lists come in envelopes: ``{"sessions": [...]}``, ``{"cases": ...}``.
"""

from __future__ import annotations

from typing import Any, Optional

from ...answers import Answer, parse

SERVICE = "Buddy"


class SessionView(Answer):
    """One test session of the suite."""

    id: str
    relative_id: Optional[int] = None  # the session's number in the suite
    status: Optional[str] = None  # IN_PROGRESS | SUCCESSFUL | ERROR | SKIPPED
    error_message: Optional[str] = None
    ref_type: Optional[str] = None
    ref_name: Optional[str] = None
    revision: Optional[str] = None
    create_date: Optional[str] = None
    start_date: Optional[str] = None
    finish_date: Optional[str] = None
    ci_provider: Optional[str] = None
    ci_run_url: Optional[str] = None
    html_url: Optional[str] = None
    tests_count: Optional[int] = None
    failed_count: Optional[int] = None
    skipped_count: Optional[int] = None
    error_count: Optional[int] = None


class CaseView(Answer):
    """One test case of a session; ``data`` only when read alone (``TestCaseView``)."""

    id: Optional[str] = None
    name: Optional[str] = None
    classname: Optional[str] = None
    test_group_name: Optional[str] = None
    test_group_id: Optional[str] = None
    status: Optional[str] = None  # PASSED | FAILED | SKIPPED | ERROR
    time: Optional[float] = None  # seconds
    data: Optional[str] = None


def session_view(data: Any) -> SessionView:
    return parse(SessionView, data, SERVICE, "session")


def case_view(data: Any) -> CaseView:
    return parse(CaseView, data, SERVICE, "case")
