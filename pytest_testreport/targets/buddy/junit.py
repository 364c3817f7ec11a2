"""Buddy mapping: the session request, and test cases (identity, status and the JUnit
``<testcase>`` fragment in ``data``).

Pure functions (no I/O), shared by the target (which builds cases) and the reader (which maps
cases back to node ids and reads the ``data`` fragment it wrote). Where the API is and how to
reach it is ``client``'s.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Optional

from ...ci import CIInfo
from ...model import Outcome, ResultKind, Session, TestResult, split_nodeid
from ...text import clean_xml as clean
from . import BUDDY_DATA_LIMIT

# Buddy documents no length limits; these keep every field well inside what JUnit readers
# and the server can be expected to take. The upsert key is (group, classname, name).
MAX_NAME = 1000
MAX_CLASSNAME = 1000
MAX_GROUP = 1000
MAX_ID_TEXT = 1000  # revision, ref name, URLs of the session
MIN_DATA_LIMIT = 4 * 1024
MAX_EARLIER = 10  # earlier attempts kept (the latest ones) per test
ATTEMPT_TEXT = 4 * 1024  # characters of an earlier attempt's traceback

STATUS = {
    Outcome.PASSED: "PASSED",
    Outcome.XPASSED: "PASSED",  # a strict xpass arrives as FAILED already
    Outcome.FAILED: "FAILED",
    Outcome.ERROR: "ERROR",
    Outcome.SKIPPED: "SKIPPED",
    Outcome.XFAILED: "SKIPPED",
}
_EXC_TYPE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
_ERROR_WHAT = {
    "setup": "error in setup",
    "teardown": "error in teardown",
    "collect": "collection failure",
    "crash": "worker crashed",
}


# -- the session -----------------------------------------------------------------------------

CI_PROVIDERS = {"buddy": "BUDDY", "github_actions": "GITHUB_ACTION", "circleci": "CIRCLE_CI"}


def session_payload(ci: CIInfo) -> dict[str, Any]:
    """``AddSessionRequest`` from what CI detection found."""
    payload: dict[str, Any] = {"ci_provider": CI_PROVIDERS.get(ci.provider, "NONE")}
    ref_type = ci.ref_type
    ref_name = {
        "PULL_REQUEST": ci.branch or ci.pull_request,
        "TAG": ci.tag,
        "BRANCH": ci.branch,
    }.get(ref_type or "")
    if ref_type and ref_name:
        payload["ref_type"], payload["ref_name"] = ref_type, clean(ref_name, MAX_ID_TEXT)
    for key, value in (
        ("ci_run_url", ci.run_url),
        ("revision", ci.revision),
        ("run_id", ci.run_id),
    ):
        if value:
            payload[key] = clean(value, MAX_ID_TEXT)
    if ci.provider == "buddy":
        for key in ("execution_id", "action_execution_id"):
            if ci.extra.get(key):
                payload[key] = clean(ci.extra[key], MAX_ID_TEXT)
    return payload


def close_status(session: Session) -> str:
    """The official reporter's close body value (the API documents no body; harmless)."""
    if session.error_count or (session.error_message or "").startswith(
        ("interrupted", "terminated", "stopped", "internal")
    ):
        return "ERROR"
    return "FAILED" if session.failed_count else "PASSED"


# -- identity ---------------------------------------------------------------------------------


def dotted_module(path: str) -> str:
    """``tests/auth/test_login.py`` -> ``tests.auth.test_login`` (as pytest's JUnit writer)."""
    return re.sub(r"\.py$", "", path).replace("/", ".")


def case_identity(result: TestResult) -> tuple[str, str, str]:
    """(name, classname, test_group_name): the case's upsert key, unique per node id."""
    nodeid = result.nodeid
    group = nodeid.split("::", 1)[0]
    if result.kind is ResultKind.COLLECTION_ERROR:
        name, classname = group.rsplit("/", 1)[-1], dotted_module(group)
    else:
        # Named like pytest's mangle_test_address: parameter ids may hold "::" or "/".
        parts = split_nodeid(nodeid)
        if len(parts) > 1:
            name, classname = parts[-1], ".".join([dotted_module(parts[0]), *parts[1:-1]])
        else:  # no "::" in the node id: the item is named as the result says
            base, bracket, params = nodeid.partition("[")
            name, classname = result.name + bracket + params, dotted_module(base)
    return clean(name, MAX_NAME), clean(classname, MAX_CLASSNAME), clean(group, MAX_GROUP)


def nodeid_from_case(group: str, classname: str, name: str) -> Optional[str]:
    """The node id a case came from, or None when it cannot be told (truncated fields)."""
    if any("[truncated " in value for value in (group, classname, name)):
        return None
    module = dotted_module(group)
    if classname == module and name == group.rsplit("/", 1)[-1]:
        return group  # a collection error: the whole file
    if classname == module:
        return f"{group}::{name}"
    if classname.startswith(module + "."):
        return "::".join([group, *classname[len(module) + 1 :].split("."), name])
    return None


def case_status(result: TestResult) -> str:
    return STATUS[result.outcome]


# -- earlier attempts (reruns) ----------------------------------------------------------------


def attempt_summary(result: TestResult) -> dict[str, Any]:
    """What the final attempt's ``data`` keeps of an earlier attempt: small and JSON-able."""
    failure = result.failure
    return {
        "uuid": result.uuid,
        "attempt": result.attempt,
        "outcome": result.outcome.value,
        "duration": round(max(result.duration, 0.0), 6),
        "phase": failure.phase if failure else None,
        "message": clean(failure.message, 2000) if failure else "",
        "traceback": clean("\n".join(failure.traceback), ATTEMPT_TEXT) if failure else "",
    }


# -- the data fragment ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    """Characters allowed per part of the fragment; scaled down until it fits the limit."""

    message: int
    traceback: int
    output: int
    attempt: int
    value: int

    @classmethod
    def scaled(cls, scale: float) -> _Budget:
        return cls(
            message=int(2000 * scale),
            traceback=int(32 * 1024 * scale),
            output=int(8 * 1024 * scale),
            attempt=int(ATTEMPT_TEXT * scale),
            value=max(int(1000 * scale), 100),
        )


def _exception_type(message: str) -> Optional[str]:
    match = _EXC_TYPE.match(message.strip().split("\n", 1)[0])
    return match.group(1) if match else None


def _prop(parent: ET.Element, name: str, value: Any, limit: int) -> None:
    ET.SubElement(parent, "property", name=clean(name, 200), value=clean(value, limit))


def _step_lines(result: TestResult) -> list[str]:
    depth: dict[str, int] = {}
    lines = []
    for step in sorted(result.steps, key=lambda s: s.started_at):
        level = depth[step.id] = depth.get(step.parent_id or "", -1) + 1
        text = " ".join(x for x in (step.keyword, step.text) if x)
        line = f"{'  ' * level}{step.result}: {text} ({step.duration:.3f}s)"
        if step.failure:
            line += f" — {step.failure}"
        lines.append(line)
    return lines


def _render(
    result: TestResult, earlier: list[dict[str, Any]], name: str, classname: str, budget: _Budget
) -> str:
    case = ET.Element(
        "testcase",
        classname=classname,
        name=name,
        file=clean(result.path, MAX_GROUP),
        time=f"{max(result.duration, 0):.3f}",
    )
    if result.line is not None:
        case.set("line", str(result.line))
    failure = result.failure  # the failures joined in one text
    props = ET.SubElement(case, "properties")
    # The full node id, so that a truncated name still maps back to its test.
    _prop(props, "pytest.nodeid", result.nodeid, max(budget.value * 16, 1000))
    _prop(props, "pytest.outcome", result.outcome.value, 50)
    if result.kind is not ResultKind.TEST:
        _prop(props, "pytest.kind", result.kind.value, 50)
    if result.attempt > 1 or earlier:
        _prop(props, "pytest.attempts", result.attempt, 50)
        outcomes = ",".join(str(a["outcome"]) for a in earlier)
        _prop(props, "pytest.earlier_outcomes", outcomes, budget.value)
    if result.worker:
        _prop(props, "pytest.worker", result.worker, 100)
    if failure is not None:
        _prop(props, "pytest.failure_phase", failure.phase, 50)
    for tag in result.tags[:50]:
        _prop(props, "pytest.marker", tag, budget.value)
    for key, value in result.metadata[:100]:
        _prop(props, key, value, budget.value)
    for line in _step_lines(result)[:100]:
        _prop(props, "pytest.step", line, budget.value)

    outcome = result.outcome
    if outcome in (Outcome.FAILED, Outcome.ERROR):
        message = failure.message if failure else outcome.value
        if outcome is Outcome.ERROR:
            what = _ERROR_WHAT.get(failure.phase if failure else "", "error")
            element = ET.SubElement(
                case, "error", message=clean(f"{what}: {message}", budget.message)
            )
        else:
            element = ET.SubElement(case, "failure", message=clean(message, budget.message))
        kind = _exception_type(message)
        if kind:
            element.set("type", clean(kind, 200))
        element.text = clean("\n".join(failure.traceback) if failure else "", budget.traceback)
    elif outcome in (Outcome.SKIPPED, Outcome.XFAILED):
        kind = "pytest.xfail" if outcome is Outcome.XFAILED else "pytest.skip"
        ET.SubElement(
            case, "skipped", type=kind, message=clean(result.reason or "", budget.message)
        )

    # Maven Surefire's rerun elements, which JUnit tools understand: flaky* when the test passed
    # in the end, rerun* when it kept failing.
    prefix = "rerun" if outcome in (Outcome.FAILED, Outcome.ERROR) else "flaky"
    for attempt in earlier[-MAX_EARLIER:]:
        tag = prefix + ("Error" if attempt["outcome"] == "error" else "Failure")
        label = f"attempt {attempt['attempt']}: {attempt['message']}"
        element = ET.SubElement(case, tag, message=clean(label, budget.message))
        kind = _exception_type(str(attempt["message"]))
        if kind:
            element.set("type", clean(kind, 200))
        ET.SubElement(element, "stackTrace").text = clean(attempt["traceback"], budget.attempt)

    out = clean(result.stdout, budget.output)
    if result.log:  # the log keeps its own share, so a flood of prints cannot hide it
        log = clean(result.log, budget.output)
        out += ("\n" if out else "") + "----- Captured log -----\n" + log
    if out:
        ET.SubElement(case, "system-out").text = out
    if result.stderr:
        ET.SubElement(case, "system-err").text = clean(result.stderr, budget.output)
    return ET.tostring(case, encoding="unicode")


def data_fragment(
    result: TestResult, earlier: list[dict[str, Any]], limit: int = BUDDY_DATA_LIMIT
) -> str:
    """One well-formed ``<testcase>`` of at most ``limit`` UTF-8 bytes (texts cut with a marker)."""
    name, classname, _group = case_identity(result)
    scale = 1.0
    while True:
        xml = _render(result, earlier, name, classname, _Budget.scaled(scale))
        if len(xml.encode("utf-8")) <= limit or scale == 0:
            return xml
        scale = scale / 4 if scale > 1 / 256 else 0


def case_payload(
    result: TestResult, earlier: list[dict[str, Any]], limit: int = BUDDY_DATA_LIMIT
) -> dict[str, Any]:
    """One ``AddTestCaseRequest``."""
    name, classname, group = case_identity(result)
    return {
        "name": name,
        "classname": classname,
        "test_group_name": group,
        "status": case_status(result),
        "time": round(max(result.duration, 0.0), 6),
        "data": data_fragment(result, earlier, limit),
    }


# -- reading it back --------------------------------------------------------------------------


def parse_data(data: Optional[str]) -> dict[str, Any]:
    """What a case's ``data`` says: ours (XML) or the official reporter's (JSON); {} if neither."""
    if not data:
        return {}
    text = data.strip()
    if text.startswith("{"):
        try:
            payload = json.loads(text)
        except ValueError:
            return {}
        failure = payload.get("failure") if isinstance(payload, dict) else None
        if not isinstance(failure, dict):
            return {}
        trace = str(failure.get("stackTrace") or "")
        return {
            "failure": {
                "message": str(failure.get("message") or ""),
                "phase": "call",
                "traceback": trace.splitlines(),
            }
        }
    try:
        case = ET.fromstring(text)
    except ET.ParseError:
        return {}
    props = [(p.get("name", ""), p.get("value", "")) for p in case.iter("property")]
    found: dict[str, Any] = {
        "metadata": [(k, v) for k, v in props if not k.startswith("pytest.")],
        "tags": [v for k, v in props if k == "pytest.marker"],
    }
    for key, value in props:
        if key in ("pytest.nodeid", "pytest.outcome", "pytest.kind", "pytest.failure_phase"):
            found[key[len("pytest.") :]] = value
        elif key == "pytest.attempts" and value.isdigit():
            found["attempts"] = int(value)
    if case.get("line", "").isdigit():
        found["line"] = int(case.get("line", ""))
    for tag in ("failure", "error"):
        element = case.find(tag)
        if element is not None:
            message = element.get("message", "")
            if tag == "error":
                message = re.sub(
                    r"^(?:error in \w+|collection failure|worker crashed): ", "", message
                )
            phase = found.get("failure_phase") or ("call" if tag == "failure" else "")
            found["failure"] = {
                "message": message,
                "phase": phase,
                "traceback": (element.text or "").splitlines(),
            }
    skipped = case.find("skipped")
    if skipped is not None and skipped.get("message"):
        found["reason"] = skipped.get("message")
    earlier = []
    for element in case:
        if element.tag in ("flakyFailure", "flakyError", "rerunFailure", "rerunError"):
            match = re.match(r"attempt (\d+): ?(.*)", element.get("message", ""), re.S)
            trace = element.findtext("stackTrace") or ""
            earlier.append(
                {
                    "attempt": int(match.group(1)) if match else len(earlier) + 1,
                    "outcome": "error" if element.tag.endswith("Error") else "failed",
                    "message": match.group(2) if match else element.get("message", ""),
                    "traceback": trace.splitlines(),
                }
            )
    found["earlier"] = earlier
    return found
