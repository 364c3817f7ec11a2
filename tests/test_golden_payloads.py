"""Golden payloads: what every target sends and reads back for the example suite.

``examples/`` runs once, serially, with all four targets on (local, buddy, browserstack,
buildkite) against the fakes in ``tests/fakes``, in a fixed CI environment. For each target the
test records what its service received (method, path, query, JSON or XML body) or, for the local
store, what ``show --json`` reads from it, plus the CLI's ``list``/``show``/``failed --json``
output and the run's ``testreport`` terminal lines. Only what must vary between runs is
normalised (see :class:`Normaliser`); the rest must equal ``tests/golden/examples-TARGET.json``.

A refactoring that changes no behaviour leaves these files as they are. When a change of
behaviour is intended, regenerate them and review the diff::

    TESTREPORT_UPDATE_GOLDEN=1 python -m pytest -p no:cacheprovider tests/test_golden_payloads.py
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from pytest_testreport import __version__ as plugin_version
from pytest_testreport.targets.browserstack.mapping import OUTCOME_KEYS

from .browserstack_helpers import cli
from .fakes import FakeBrowserStack, FakeBuddy, FakeBuildkite, RecordedRequest

EXAMPLES = Path(__file__).parent.parent / "examples"
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TESTREPORT_UPDATE_GOLDEN") == "1"
TARGETS = ("local", "buddy", "browserstack", "buildkite")

# Variables the run under test keeps; everything else (CI variables of the machine running this
# suite, a user's TESTREPORT_* settings, SHOP_SMTP_HOST) is removed so the payloads stay the same.
KEEP_ENV = ("PATH", "HOME", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "LANG", "LC_ALL", "LC_CTYPE",
            "PYTHONPATH", "VIRTUAL_ENV")  # fmt: skip
# A fixed GitHub Actions build: the CI fields each target maps are part of the payloads.
CI_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_RUN_NUMBER": "17",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_JOB": "tests",
    "GITHUB_WORKFLOW": "CI",
    "GITHUB_ACTOR": "octocat",
    "GIT_DIR": "/nonexistent-git-dir",  # no git fallback: the commit comes from CI only
}
ARGS = (
    "examples", "--testreport=local,buddy,browserstack,buildkite", "-p", "no:cacheprovider",
    "-p", "no:xdist", "--testreport-flush-timeout=30",
    # Setups of the examples are fast; a loaded machine must not make one "slow" (a hook run).
    "--testreport-browserstack-hook-threshold=600",
)  # fmt: skip

# -- the normaliser ----------------------------------------------------------------------------

UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
# Durations written inside text: "(0.004s)" in step lines, time="0.004" in XML.
TEXT_DURATION = re.compile(r"\(\d+\.\d+s\)")
XML_TIME = re.compile(r'\btime="[0-9.e-]+"')
ADDRESS = re.compile(r"\b0x[0-9a-f]{6,16}\b")  # "<object at 0x7f...>" in tracebacks
# Keys whose values are durations (seconds, or milliseconds) or offsets into the run.
DURATION_KEYS = frozenset({"duration", "duration_in_ms", "durations", "time", "start_at", "end_at"})
# Keys whose values are points in time, in whatever form a service writes them.
TIME_KEYS = frozenset({"started_at", "finished_at", "created_at", "create_date", "finish_date",
                       "timestamp"})  # fmt: skip
# Keys whose values are versions of Python, pytest or the plugin.
VERSION_KEYS = frozenset({"python_version", "pytest_version", "plugin_version", "os_version",
                          "language_version", "version"})  # fmt: skip


class Normaliser:
    """Replaces what must vary between runs with stable placeholders, keeping references.

    Known strings (fakes' URLs, random ids, the run's directory, the hostname) become
    ``<label>``; each distinct UUID becomes ``<uuid-N>`` in order of first appearance, so a
    field that points at another (a hook's ``test_run_id``) still matches it. Timestamps, and
    the values of time keys, become ``<time>``; durations (values of duration keys, and inside
    text) ``<duration>``; machine addresses ``0x<address>``; values of version keys
    ``<version>``. Nothing else is touched.
    """

    def __init__(self) -> None:
        self.literals: dict[str, str] = {}
        self.uuids: dict[str, str] = {}

    def fresh(self) -> Normaliser:
        """The same known strings, UUIDs numbered from 1 again (one per golden file)."""
        made = Normaliser()
        made.literals = dict(self.literals)
        return made

    def alias(self, value: str, label: str) -> None:
        if value and value not in self.literals:
            self.literals[value] = f"<{label}>"

    def text(self, value: str) -> str:
        for literal in sorted(self.literals, key=len, reverse=True):
            value = value.replace(literal, self.literals[literal])
        value = UUID.sub(lambda m: self.uuids.setdefault(m[0], f"<uuid-{len(self.uuids) + 1}>"),
                         value)  # fmt: skip
        value = TIMESTAMP.sub("<time>", value)
        value = TEXT_DURATION.sub("(<duration>)", value)
        value = ADDRESS.sub("0x<address>", value)
        return XML_TIME.sub('time="<duration>"', value)

    def __call__(self, value: Any, key: str = "") -> Any:
        if key in DURATION_KEYS and value is not None:
            return "<duration>"
        if key in TIME_KEYS and value is not None:
            return "<time>"
        if key in VERSION_KEYS and isinstance(value, str):
            return "<version>"
        if isinstance(value, dict):
            return {self.text(str(k)): self(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(v, key) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


# -- what each fake received -------------------------------------------------------------------

# Requests whose JSON body carries a list of items in one key: how results are cut into
# batches depends on timing, so these are recorded as their envelopes plus every item in order.
BATCHED = {"cases": r"/cases/batch$", "data": r"/uploads$", "logs": r"/logs$"}


# BrowserStack's test run starts: sent live (when the setup ended) they cannot know the outcome;
# a start whose test ended first goes back to back with its finish and says it. Which one a
# test gets depends on timing, so the golden files keep what both have in common.
LIVE_START = re.compile(r"/tests/start$")


def without_timing(path: str, body: Any) -> Any:
    if LIVE_START.search(path) and isinstance(body, dict):
        meta = body.get("custom_metadata")
        if isinstance(meta, dict):
            body["custom_metadata"] = {k: v for k, v in meta.items() if k not in OUTCOME_KEYS}
    return body


def body(rec: RecordedRequest) -> Any:
    """The request body: parsed JSON, XML text, or nothing."""
    if not rec.body:
        return None
    try:
        return rec.json
    except ValueError:
        return rec.text


def unordered(request: dict[str, Any]) -> str:
    """A sort key that leaves out what is numbered by order of appearance (UUIDs)."""
    return UUID.sub("<uuid>", json.dumps(request, sort_keys=True))


def received(requests: list[RecordedRequest], ordered: bool = True) -> dict[str, Any]:
    """Accepted requests, batched ones as envelopes and items; in order unless not ``ordered``."""
    plain: list[dict[str, Any]] = []
    batched: dict[str, dict[str, Any]] = {}
    for rec in requests:
        if not rec.accepted:
            continue
        shown = {"method": rec.method, "path": rec.path, "query": rec.query,
                 "body": without_timing(rec.path, body(rec))}  # fmt: skip
        key = next((k for k, rx in BATCHED.items() if re.search(rx, rec.path)), None)
        if key is None or not isinstance(shown["body"], dict):
            plain.append(shown)
            continue
        envelope = {k: v for k, v in shown["body"].items() if k != key}
        group = batched.setdefault(f"{rec.method} {rec.path}", {"envelopes": [], "items": []})
        if envelope not in group["envelopes"]:
            group["envelopes"].append(envelope)
        group["items"].extend(shown["body"][key])
    if not ordered:
        plain.sort(key=unordered)
    return {"requests": plain, "batched": batched}


# -- the run -----------------------------------------------------------------------------------


def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name not in KEEP_ENV:
            monkeypatch.delenv(name)
    for name, value in CI_ENV.items():
        monkeypatch.setenv(name, value)


def by_test(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(tests, key=lambda t: (t["nodeid"], t["attempt"]))


def read_back(target: str, store: Path, ordered: bool = True) -> dict[str, Any]:
    """The CLI's ``list``, ``show latest`` and ``failed latest`` in JSON, for one target
    (tests by node id unless ``ordered``: a service that lists them in arrival order)."""
    where = ["--store", str(store)] if target == "local" else ["--target", target]
    out: dict[str, Any] = {}
    for verb in (["list"], ["show", "latest"], ["failed", "latest"]):
        code, stdout, stderr = cli(*verb, *where, "--json")
        assert code == 0, (verb, target, stderr)
        out[" ".join(verb)] = json.loads(stdout)
    if not ordered:
        out["show latest"]["tests"] = by_test(out["show latest"]["tests"])
        out["failed latest"] = by_test(out["failed latest"])
    return out


@pytest.fixture
def recorded(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    buddy_fake: FakeBuddy,
    browserstack_fake: FakeBrowserStack,
    buildkite_fake: FakeBuildkite,
) -> Iterator[dict[str, Any]]:
    """Run the examples with every target; what each target sent and reads back, normalised."""
    _clean_environment(monkeypatch)
    fakes: dict[str, Any] = {
        "buddy": buddy_fake, "browserstack": browserstack_fake, "buildkite": buildkite_fake,
    }  # fmt: skip
    for fake in fakes.values():
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
    shutil.copytree(EXAMPLES, pytester.path / "examples")
    run = pytester.runpytest_subprocess(*ARGS)
    assert run.ret == pytest.ExitCode.TESTS_FAILED, run.stdout.str()
    monkeypatch.chdir(pytester.path)
    store = pytester.path / ".testreport" / "results.sqlite"
    terminal = [line for line in run.outlines if line.startswith("testreport")]

    normalise = Normaliser()
    normalise.alias(str(pytester.path), "rootdir")
    # BrowserStack's default project name is the rootdir's name, here pytester's (this test's).
    normalise.alias(pytester.path.name, "rootdir-name")
    normalise.alias(socket.gethostname(), "hostname")
    normalise.alias(plugin_version, "plugin-version")
    for name, fake in fakes.items():
        normalise.alias(fake.origin, f"{name}-url")
    for session in buddy_fake.sessions.values():
        normalise.alias(session.id, "buddy-session")
        for group_id in session.groups.values():
            normalise.alias(group_id, f"buddy-group-{len(normalise.literals)}")
        for case in session.cases.values():
            normalise.alias(case.id, f"buddy-case-{len(normalise.literals)}")
    for build_id in browserstack_fake.builds:
        normalise.alias(build_id, "browserstack-build")

    out: dict[str, Any] = {}
    for target in TARGETS:
        # A BrowserStack test run starts while its test runs, and the sender finishes the
        # previous one meanwhile: the order of starts and finishes depends on timing.
        ordered = target != "browserstack"
        sent = received(fakes[target].requests, ordered) if target in fakes else {}
        lines = [line for line in terminal if line.startswith(f"testreport {target}")]
        out[target] = normalise.fresh()(
            {"terminal": lines, **sent, **read_back(target, store, ordered)}
        )
    yield out


def compare(target: str, got: dict[str, Any]) -> None:
    path = GOLDEN / f"examples-{target}.json"
    text = json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with TESTREPORT_UPDATE_GOLDEN=1"
    want = path.read_text(encoding="utf-8")
    if text != want:
        diff = difflib.unified_diff(want.splitlines(), text.splitlines(), str(path), "this run",
                                    lineterm="", n=2)  # fmt: skip
        raise AssertionError(f"{target}: the payloads changed\n" + "\n".join(list(diff)[:200]))


def test_examples_send_the_golden_payloads(recorded: dict[str, Any]) -> None:
    failures: list[str] = []
    for target in TARGETS:
        try:
            compare(target, recorded[target])
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


SOME_UUID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
NORMALISER_CASES: list[tuple[Any, Any, Callable[[Normaliser], None]]] = [
    (
        {"id": SOME_UUID, "of": SOME_UUID},
        {"id": "<uuid-1>", "of": "<uuid-1>"},
        lambda n: None,
    ),
    (
        {"started_at": "2026-01-02T03:04:05.123Z", "note": "at 2026-01-02T03:04:05Z", "n": 3},
        {"started_at": "<time>", "note": "at <time>", "n": 3},
        lambda n: None,
    ),
    (
        {"data": '<testcase time="0.012"><property value="passed: Given x (0.004s)"/></testcase>'},
        {"data": '<testcase time="<duration>"><property value="passed: Given x (<duration>)"/>'
                 "</testcase>"},
        lambda n: None,
    ),
    (
        {"url": "http://127.0.0.1:5555/v1/uploads", "version": "9.0.1", "outcome": "failed"},
        {"url": "<buildkite-url>/v1/uploads", "version": "<version>", "outcome": "failed"},
        lambda n: n.alias("http://127.0.0.1:5555", "buildkite-url"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected", "setup"), NORMALISER_CASES)
def test_the_normaliser_replaces_only_what_varies(
    raw: Any, expected: Any, setup: Callable[[Normaliser], None]
) -> None:
    normalise = Normaliser()
    setup(normalise)
    assert normalise(raw) == expected
