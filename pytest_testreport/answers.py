"""What the services answer, as pydantic models: the readers' common part.

Each remote target declares its answers in ``targets/<name>/answers.py`` (Buddy's sessions and
cases, BrowserStack's builds and test runs, Buildkite's runs and failed executions), as
subclasses of ``Answer``. A reader parses every answer it uses through ``parse``, so an answer
of an unexpected shape is one ``UnexpectedAnswer`` naming the field, e.g. ``Buildkite answered
an unexpected run: field 'id': missing``. It is a ``DeliveryError``, so the CLI and
``--testreport-failed-from`` tell it the way they tell a service that cannot be read.
Only the readers import this module (and so pydantic), never a pytest run that only reports.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .engine.errors import DeliveryError

A = TypeVar("A", bound="Answer")


class UnexpectedAnswer(DeliveryError):
    """A service answered in a shape its documentation (and our reference) does not describe."""


class Answer(BaseModel):
    """One object a service answered. Keys we do not read are kept (``extra``) and ignored;
    numbers where text is expected are taken as text, as the services mix them."""

    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)


def parse(model: type[A], data: Any, service: str, what: str) -> A:
    """``data`` as ``model``, or the ``UnexpectedAnswer`` that names the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UnexpectedAnswer(f"{service} answered an unexpected {what}: {_first(exc)}") from None


def _first(exc: ValidationError) -> str:
    """The first error as ``field 'a.b[0]': what is wrong`` (``missing`` for an absent key)."""
    error = exc.errors(include_url=False)[0]
    place = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    problem = "missing" if error["type"] == "missing" else str(error["msg"])
    if not place:
        return problem  # the whole answer (not an object, say)
    return f"field {place.lstrip('.')!r}: {problem}"
