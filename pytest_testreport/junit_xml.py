"""Reading JUnit XML: a safe parse, and ``<testcase>`` elements mapped back to pytest node ids.

Safety: JUnit files never need a document type, so any ``<!DOCTYPE>`` is refused before its
first declaration is read. Without one there are no entity declarations, so neither an
"XML bomb" (nested entity expansion) nor an external entity (a file or URL pulled in) can occur.
The file is read once into memory, as large as it is, and never written.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from xml.parsers import expat

from .model import Failure, Outcome, ResultKind

# pytest's default python_files patterns: test_*.py and *_test.py.
_TEST_MODULE = re.compile(r"^test_|_test$|^test$")
# pytest's junit_logging sections in <system-out>/<system-err>.
_SECTION = re.compile(r"^-+ Captured (Log|Out|Err) -+$", re.MULTILINE)
_RERUNS = {
    "flakyFailure": Outcome.FAILED,
    "flakyError": Outcome.ERROR,
    "rerunFailure": Outcome.FAILED,
    "rerunError": Outcome.ERROR,
}


class JUnitError(Exception):
    """A file that is not JUnit XML we can read safely; the message says why."""


def parse_xml(data: bytes, name: str) -> ET.Element:
    """The element tree of ``data``; refuses a DTD (and with it every entity declaration)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def refuse(*_: object) -> None:
        raise JUnitError(f"{name}: a DOCTYPE is not allowed in JUnit XML (refused, not expanded)")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise JUnitError(f"{name}: not well-formed XML: {exc}") from None
    return builder.close()


@dataclass
class Attempt:
    """One attempt of a test case as the file records it (earlier attempts come from reruns)."""

    outcome: Outcome
    duration: float
    failure: Optional[Failure] = None
    reason: Optional[str] = None
    stdout: str = ""
    stderr: str = ""
    log: str = ""


@dataclass
class Case:
    """One ``<testcase>``: where it is, its final attempt and any earlier ones."""

    nodeid: str
    path: str
    name: str
    line: Optional[int]
    kind: ResultKind
    final: Attempt
    earlier: list[Attempt] = field(default_factory=list)
    metadata: list[tuple[str, str]] = field(default_factory=list)


# -- node ids ---------------------------------------------------------------------------------


def _is_module(parts: list[str]) -> bool:
    return bool(parts) and bool(_TEST_MODULE.search(parts[-1]))


def locate(classname: str, name: str, file: Optional[str], root: Optional[Path]) -> tuple[str, str]:
    """``(nodeid, path)`` for a test case: pytest's junit mapping run backwards.

    pytest writes ``tests/test_x.py::TestC::test_y[p]`` as classname ``tests.test_x.TestC``
    and name ``test_y[p]``. The module part of the classname is found, in order, from the
    ``file`` attribute, from a ``.py`` file under ``root``, or as the segments before the first
    capitalized one when the last of them looks like a test module (``test_*``, ``*_test``).
    Anything else (other languages' runners) keeps ``[file::]classname::name``.
    """
    parts = [p for p in classname.split(".") if p]
    path = file.replace("\\", "/") if file else None
    while path and path.startswith("./"):
        path = path[2:]
    if path and path.endswith(".py"):
        module = path[:-3].split("/")
        for at in range(len(parts) - len(module) + 1):  # a junit_prefix may come first
            if parts[at : at + len(module)] == module:
                return "::".join([path, *parts[at + len(module) :], name]), path
        return "::".join([path, name]), path
    if not path and root is not None:
        for cut in range(len(parts), 0, -1):
            candidate = "/".join(parts[:cut]) + ".py"
            if (root / candidate).is_file():
                return "::".join([candidate, *parts[cut:], name]), candidate
    if not path:
        cut = next((i for i, p in enumerate(parts) if p[:1].isupper()), len(parts))
        if _is_module(parts[:cut]):
            candidate = "/".join(parts[:cut]) + ".py"
            return "::".join([candidate, *parts[cut:], name]), candidate
    nodeid = "::".join(x for x in (path, classname, name) if x)
    return nodeid, path or classname or name


def _collection_error(case: ET.Element, file: Optional[str]) -> Optional[str]:
    """The file path of pytest's collection-error case (empty classname), else None."""
    error = case.find("error")
    if case.get("classname") or error is None or error.get("message") != "collection failure":
        return None
    return file or (case.get("name", "").replace(".", "/") + ".py")


# -- attempts ---------------------------------------------------------------------------------


def seconds(value: Optional[str]) -> float:
    """A ``time`` attribute in seconds; missing or unreadable is 0 (some runners write 1,234.5)."""
    try:
        return max(0.0, float((value or "0").replace(",", "")))
    except ValueError:
        return 0.0


def _text(element: Optional[ET.Element]) -> str:
    return (element.text or "") if element is not None else ""


def _phase(tag: str, message: str) -> str:
    if tag in ("failure", "flakyFailure", "rerunFailure"):
        return "call"
    for phase in ("setup", "teardown"):
        if message.startswith(f"failed on {phase}"):
            return phase
    return "collect" if message == "collection failure" else "call"


def _failure(element: ET.Element) -> Failure:
    # Surefire puts a rerun's trace in <stackTrace>; everyone else in the element's text.
    trace = _text(element.find("stackTrace")) or _text(element)
    message = element.get("message") or next(iter(trace.strip().splitlines()), "") or element.tag
    return Failure(
        message=message, phase=_phase(element.tag, message), traceback=trace.splitlines()
    )


def _streams(case: ET.Element) -> tuple[str, str, str]:
    """(stdout, stderr, log) from ``<system-out>``/``<system-err>``, pytest's sections split."""
    found = {"Out": "", "Err": "", "Log": ""}
    plain = {"system-out": "Out", "system-err": "Err"}
    for tag, default in plain.items():
        text = _text(case.find(tag))
        pieces = _SECTION.split(text)
        if len(pieces) == 1:
            found[default] += text
            continue
        found[default] += pieces[0].strip("\n")
        for kind, body in zip(pieces[1::2], pieces[2::2]):
            found[kind] += body.strip("\n")
    return found["Out"], found["Err"], found["Log"]


def _final(case: ET.Element) -> Attempt:
    duration = seconds(case.get("time"))
    stdout, stderr, log = _streams(case)
    attempt = Attempt(Outcome.PASSED, duration, stdout=stdout, stderr=stderr, log=log)
    error, failure, skipped = case.find("error"), case.find("failure"), case.find("skipped")
    if error is not None or failure is not None:
        bad = error if error is not None else failure
        assert bad is not None
        attempt.outcome = Outcome.ERROR if error is not None else Outcome.FAILED
        attempt.failure = _failure(bad)
    elif skipped is not None:
        xfail = skipped.get("type") == "pytest.xfail"
        attempt.outcome = Outcome.XFAILED if xfail else Outcome.SKIPPED
        attempt.reason = skipped.get("message") or _text(skipped).strip() or None
    return attempt


def _earlier(case: ET.Element) -> list[Attempt]:
    """Surefire's rerun elements: earlier attempts, in the order written."""
    return [
        Attempt(outcome, seconds(child.get("time")), failure=_failure(child),
                stdout=_text(child.find("system-out")), stderr=_text(child.find("system-err")))
        for child in case
        if (outcome := _RERUNS.get(child.tag)) is not None
    ]  # fmt: skip


def read_case(element: ET.Element, root: Optional[Path]) -> Case:
    """One ``<testcase>`` as a ``Case``."""
    file = element.get("file")
    name = element.get("name", "")
    line_text = element.get("line", "")
    # pytest, the one common writer of ``line``, writes it 0-based; ours are 1-based.
    line = int(line_text) + 1 if line_text.isdigit() else None
    collected = _collection_error(element, file)
    if collected is not None:
        nodeid, path, kind, name = (
            collected,
            collected,
            ResultKind.COLLECTION_ERROR,
            Path(collected).name,
        )
    else:
        nodeid, path = locate(element.get("classname", ""), name, file, root)
        kind = ResultKind.TEST
    properties = element.find("properties")
    metadata = [
        (p.get("name", ""), p.get("value", _text(p)))
        for p in (properties if properties is not None else [])
        if p.tag == "property"
    ]
    return Case(nodeid, path, name, line, kind, _final(element), _earlier(element), metadata)


def combine(first: Case, second: Case) -> Case:
    """The same test listed twice in one file.

    pytest lists a test whose call failed and whose teardown errored twice: one failure, then
    one ``failed on teardown`` error; that is one failed test, the teardown error appended.
    Other runners list reruns this way: the earlier entry becomes an earlier attempt.
    """
    teardown = second.final.failure is not None and second.final.failure.phase == "teardown"
    if teardown and first.final.outcome is Outcome.FAILED and first.final.failure is not None:
        extra = second.final.failure
        assert extra is not None
        first.final.failure.traceback += ["", f"error in teardown: {extra.message}",
                                          *extra.traceback]  # fmt: skip
        return first
    second.earlier = [*first.earlier, first.final, *second.earlier]
    return second
