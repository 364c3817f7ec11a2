"""What BrowserStack's ``/ext/v1`` read endpoints answer (reference §4 and §13), as the reader
reads it: builds and test runs.

The read API is known from a community spec, so every field is optional and a null is taken as
absent; a build names its id under one of several keys (``build_id`` first).
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, field_validator

from ...answers import Answer, parse

SERVICE = "BrowserStack"
BUILD_ID_KEYS = ("build_id", "build_hashed_id", "hashed_id", "id")


class VersionControl(Answer):
    branch: Optional[str] = None
    sha: Optional[str] = None


class CiInfo(Answer):
    name: Optional[str] = None
    build_url: Optional[str] = None


class Build(Answer):
    """One build of a project (a session of ours)."""

    build_id: Optional[str] = None
    build_hashed_id: Optional[str] = None
    hashed_id: Optional[str] = None
    id: Optional[str] = None
    name: Optional[str] = None
    status: Optional[str] = None
    status_stats: dict[str, Any] = Field(default_factory=dict)  # counts by test run status
    version_control: VersionControl = Field(default_factory=VersionControl)
    ci_info: CiInfo = Field(default_factory=CiInfo)
    started_at: Optional[str] = None
    finished_at: Optional[str] = None

    @field_validator("status_stats", "version_control", "ci_info", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    def ident(self) -> Optional[str]:
        """The build's id, under the first key that holds one."""
        return next((str(v) for k in BUILD_ID_KEYS if (v := getattr(self, k))), None)


class FailureEntry(Answer):
    backtrace: list[str] = Field(default_factory=list)

    @field_validator("backtrace", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class Run(Answer):
    """One test run of a build; ``custom_metadata`` holds what we sent (``pytest.nodeid`` ...)."""

    name: Optional[str] = None
    status: Optional[str] = None
    file_name: Optional[str] = None
    scopes: list[str] = Field(default_factory=list)
    location: Optional[str] = None
    tags: list[str] = Field(default_factory=list)
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    duration: Optional[float] = None  # milliseconds
    failure: list[FailureEntry] = Field(default_factory=list)
    custom_metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("scopes", "tags", "failure", mode="before")
    @classmethod
    def _null_is_no_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("custom_metadata", mode="before")
    @classmethod
    def _null_is_no_metadata(cls, value: Any) -> Any:
        return {} if value is None else value


def build(data: Any) -> Build:
    return parse(Build, data, SERVICE, "build")


def run(data: Any) -> Run:
    return parse(Run, data, SERVICE, "test run")
