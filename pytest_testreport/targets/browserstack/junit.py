"""The bulk lane's document: a session's results as JUnit XML, and its multipart upload.

Each ``<testcase>`` is the one Buddy's target writes (``buddy.junit.data_fragment``): outcome,
time, failure or error with message and traceback, skipped with its reason, captured output,
``file`` and ``line``, ``<properties>`` for metadata, markers and steps, and the earlier attempts
of a rerun test as Maven Surefire's ``flakyFailure``/``rerunFailure`` elements (the JUnit
dialect chosen, see docs/browserstack.md). One ``<testsuite>`` per test file. A document larger
than the upload's size limit is split at test cases into several uploads that share the build
identifier.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from ...model import Outcome, Session, TestResult
from ..buddy.junit import attempt_summary, clean, data_fragment
from .mapping import build_run_identifier, iso

# BrowserStack's page gives no size limit; a community spec says 100 MB per file [3P]. We keep
# well under it. A test case is bounded on its own (``CASE_LIMIT``), as Buddy bounds its own.
UPLOAD_LIMIT = 50 * 1024 * 1024
CASE_LIMIT = 256 * 1024
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
_EMPTY = len(_HEAD) + len("<testsuites></testsuites>\n")


def tests_of(results: Iterable[TestResult]) -> list[tuple[TestResult, list[TestResult]]]:
    """Each test once: its final attempt (the last reported) with its earlier attempts."""
    attempts: dict[str, list[TestResult]] = {}
    for result in results:
        attempts.setdefault(result.nodeid, []).append(result)
    tests = []
    for group in attempts.values():
        group.sort(key=lambda r: (r.attempt, not r.final))
        tests.append((group[-1], group[:-1]))
    return tests


def _suite(path: str, cases: list[tuple[TestResult, str]], stamp: str, host: str) -> str:
    """One ``<testsuite>`` (a test file) around its rendered cases, with their counts."""
    outcomes = [result.outcome for result, _ in cases]
    suite = ET.Element(
        "testsuite",
        name=clean(path, 1000),
        tests=str(len(cases)),
        failures=str(outcomes.count(Outcome.FAILED)),
        errors=str(outcomes.count(Outcome.ERROR)),
        skipped=str(sum(o in (Outcome.SKIPPED, Outcome.XFAILED) for o in outcomes)),
        time=f"{sum(max(r.duration, 0.0) for r, _ in cases):.3f}",
        timestamp=stamp,
        hostname=clean(host, 255),
    )
    head = ET.tostring(suite, encoding="unicode").replace(" />", ">", 1)
    return head + "".join(case for _, case in cases) + "</testsuite>"


def documents(session: Session, results: list[TestResult],
              limit: int = UPLOAD_LIMIT) -> list[bytes]:  # fmt: skip
    """The session as JUnit XML documents of at most ``limit`` bytes each (one when it fits).

    Cases are rendered once; a document is closed before the case that would pass the limit
    (a single case larger than the limit still goes, alone: it is bounded by ``CASE_LIMIT``).
    """
    stamp = iso(session.started_at)
    host = session.hostname or socket.gethostname()
    by_file: dict[str, list[tuple[TestResult, str, int]]] = {}
    for final, earlier in tests_of(results):
        case = data_fragment(final, [attempt_summary(r) for r in earlier], CASE_LIMIT)
        by_file.setdefault(final.path or final.nodeid, []).append(
            (final, case, len(case.encode("utf-8")))
        )
    docs: list[bytes] = []
    suites: list[str] = []
    size = _EMPTY
    for path, cases in by_file.items():
        # The suite's own element, with room for its counts' digits.
        overhead = len(_suite(path, [], stamp, host).encode("utf-8")) + 64
        part: list[tuple[TestResult, str]] = []
        for final, case, length in cases:
            if (suites or part) and size + overhead + length > limit:
                if part:
                    suites.append(_suite(path, part, stamp, host))
                docs.append(_document(suites))
                suites, part, size = [], [], _EMPTY
            part.append((final, case))
            size += length
        if part:
            suites.append(_suite(path, part, stamp, host))
            size += overhead
    if suites or not docs:
        docs.append(_document(suites))
    return docs


def _document(suites: list[str]) -> bytes:
    return (_HEAD + "<testsuites>" + "".join(suites) + "</testsuites>\n").encode("utf-8")


def form_fields(session: Session, project: str, build_name: str, tags: list[str],
                identifier: str) -> dict[str, str]:  # fmt: skip
    """The upload's fields besides ``data`` (reference §12)."""
    fields = {
        "projectName": project,
        "buildName": build_name,
        "buildIdentifier": identifier,
        "frameworkVersion": f"pytest, {session.pytest_version}" if session.pytest_version
        else "pytest",
    }  # fmt: skip
    if tags:
        fields["tags"] = ",".join(tags)
    if session.ci.run_url:
        fields["ci"] = session.ci.run_url
    return fields


def multipart(fields: dict[str, str], document: bytes, name: str) -> tuple[bytes, str]:
    """The multipart/form-data body and its content type (urllib3's encoder, as requests)."""
    from urllib3 import encode_multipart_formdata

    parts: dict[str, Any] = dict(fields)
    parts["data"] = (name, document, "application/xml")
    return encode_multipart_formdata(parts)


def build_identifier(session: Session) -> str:
    """The run's identity: the live lane's ``build_run_identifier`` (the CI run), else the
    session's uuid, so that split uploads of one session land in one build."""
    return build_run_identifier(session.ci) or session.uuid
