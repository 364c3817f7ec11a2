"""What Buildkite's REST API answers (reference §2), as the reader reads it.

Fields are those of the reference's tables; every one the API may leave out or null is
optional. A run must have its ``id`` (every other read goes through it).
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, field_validator

from ...answers import Answer, parse

SERVICE = "Buildkite"


class Run(Answer):
    """``GET /runs`` and ``GET /runs/{id}``: one Test Engine run (no counts)."""

    id: str
    branch: Optional[str] = None
    commit_sha: Optional[str] = None
    state: Optional[str] = None  # running | finished
    result: Optional[str] = None  # pending | passed | failed | stale
    url: Optional[str] = None
    web_url: Optional[str] = None
    created_at: Optional[str] = None


class FailedExecution(Answer):
    """``GET /runs/{id}/failed_executions``: one failed execution, with its flat tags."""

    execution_id: Optional[str] = None
    test_id: Optional[str] = None
    test_name: Optional[str] = None
    location: Optional[str] = None
    failure_reason: Optional[str] = None
    duration: Optional[float] = None
    created_at: Optional[str] = None
    test_url: Optional[str] = None
    test_execution_url: Optional[str] = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags", mode="before")
    @classmethod
    def _no_tags(cls, value: Any) -> Any:
        return {} if value is None else value  # null: no tags


class SuiteTest(Answer):
    """``GET /tests``: one test of the suite, with its labels (``flaky``)."""

    scope: Optional[str] = None
    name: Optional[str] = None
    location: Optional[str] = None
    labels: list[str] = Field(default_factory=list)
    web_url: Optional[str] = None

    @field_validator("labels", mode="before")
    @classmethod
    def _no_labels(cls, value: Any) -> Any:
        return [] if value is None else value


def run(data: Any) -> Run:
    return parse(Run, data, SERVICE, "run")


def failed_execution(data: Any) -> FailedExecution:
    return parse(FailedExecution, data, SERVICE, "failed execution")


def suite_test(data: Any) -> SuiteTest:
    return parse(SuiteTest, data, SERVICE, "test")
