"""Issue 15, items 1-3: no credential leaves the plugin, and no target sees invalid text.

Every run here uses distinctive credential values, so that finding one (raw, base64 or as its
``Authorization`` header) anywhere the plugin writes or sends is a leak.
"""

from __future__ import annotations

import base64
import io
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, redirect_stderr, redirect_stdout
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_testreport.cli import main as cli_main
from pytest_testreport.config import settings_from_env
from pytest_testreport.engine import Engine
from pytest_testreport.engine.scrub import Scrubber, settings_secrets, valid_text
from pytest_testreport.engine.secrets import mask, register
from pytest_testreport.model import Failure, LogEntry, Outcome, Session, Step, TestId, TestResult
from pytest_testreport.targets.local.target import LocalTarget

from .buildkite_helpers import CI_VARIABLES
from .conftest import store_path
from .fakes.base import FakeService
from .fakes.browserstack import FakeBrowserStack
from .fakes.buddy import FakeBuddy
from .fakes.buildkite import FakeBuildkite

BUDDY_UT = "bud_ut_us_Qx9LEAKbuddysuite71"
BUDDY_PAT = "Qx9LEAKbuddypat72"
BS_USER = "qx9user"
BS_KEY = "Qx9LEAKbskey73"
BK_TOKEN = "Qx9LEAKbksuite74"
BK_API = "Qx9LEAKbkapi75"
RAW = (BUDDY_UT, BUDDY_PAT, BS_KEY, BK_TOKEN, BK_API)
ECHO = "ECHOED credential"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def leaked_forms() -> dict[str, str]:
    """Every form a credential must never be seen in, by a label for the failure message."""
    forms = {}
    for value in RAW:
        forms[f"raw {value}"] = value
        forms[f"base64 of {value}"] = b64(value).rstrip("=")
    basic = b64(f"{BS_USER}:{BS_KEY}")
    forms["basic-auth pair"] = basic.rstrip("=")
    forms["BrowserStack header"] = f"Basic {basic}"
    forms["Buildkite header"] = f'Token token="{BK_TOKEN}"'
    forms["Buddy header"] = f"Bearer {BUDDY_UT}"
    return forms


def assert_no_leak(where: str, text: str) -> None:
    found = [label for label, form in leaked_forms().items() if form in text]
    assert not found, f"{where} holds {found}"


def echo_text() -> str:
    """What a careless server says back: every credential, raw, in base64 and as its header."""
    return f"{ECHO} " + " ".join(leaked_forms().values())


@pytest.fixture
def fakes() -> Iterator[tuple[FakeBuddy, FakeBrowserStack, FakeBuildkite]]:
    with ExitStack() as stack:
        buddy = stack.enter_context(FakeBuddy(BUDDY_UT, pat=BUDDY_PAT))
        browserstack = stack.enter_context(FakeBrowserStack(BS_USER, BS_KEY))
        buildkite = stack.enter_context(FakeBuildkite(BK_TOKEN, BK_API))
        yield buddy, browserstack, buildkite  # type: ignore[misc]


def use_fakes(monkeypatch: pytest.MonkeyPatch, *fakes: FakeService) -> None:
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for fake in fakes:
        for name, value in fake.env().items():  # type: ignore[attr-defined]
            monkeypatch.setenv(name, value)


# Tests that put every credential (and its base64 form) into every kind of content.
LEAKY_SUITE = """
import base64, logging, os, sys
import pytest
from pytest_testreport import metadata, step

NAMES = ("BUDDY_UT_TOKEN", "BUDDY_TOKEN", "BROWSERSTACK_ACCESS_KEY", "BUILDKITE_ANALYTICS_TOKEN",
         "BUILDKITE_API_TOKEN")
VALUES = [os.environ[n] for n in NAMES]
VALUES.append(base64.b64encode(os.environ["BROWSERSTACK_ACCESS_KEY"].encode()).decode())
PAIR = os.environ["BROWSERSTACK_USERNAME"] + ":" + os.environ["BROWSERSTACK_ACCESS_KEY"]
VALUES.append(base64.b64encode(PAIR.encode()).decode())

def test_prints_them():
    for value in VALUES:
        print("stdout has", value)
        sys.stderr.write("stderr has " + value + "\\n")
        logging.getLogger("leaky").warning("log has %s", value)
        metadata("key " + value, "value " + value)
        with step("step " + value):
            pass

@pytest.mark.parametrize("token", [os.environ["BUILDKITE_ANALYTICS_TOKEN"]])
def test_param(token):
    pass

def test_fails_on_them():
    assert 0, "failed with " + " ".join(VALUES)
"""

RUN_ARGS = (
    "--testreport=local,buddy,browserstack,buildkite", "--testreport-capture=all",
    "--testreport-buildkite-batch-size=1", "--testreport-batch-age=0.1",
    "--testreport-flush-timeout=20", "-p", "no:cacheprovider",
    "-q", "--tb=no", "-rN",  # pytest's own failure report would show the test's own text
)  # fmt: skip


def inject_echoes(buddy: FakeBuddy, browserstack: FakeBrowserStack, buildkite: FakeBuildkite):
    """Each service refuses one request with a body that quotes every credential."""
    buddy.fail_next(1, 400, {"errors": [{"message": echo_text()}]}, path=r"/close$")
    browserstack.fail_next(1, 400, {"success": False, "message": echo_text()},
                           path=r"/tests/[^/]+/finish$")  # fmt: skip
    buildkite.fail_next(1, 422, {"message": echo_text()}, path=r"/v1/uploads$")


def run_cli(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(list(args))
    return code, out.getvalue() + err.getvalue()


def files_under_testreport(root: Path) -> dict[str, str]:
    """Every file under .testreport/ (debug log, spool, store), as text."""
    folder = root / ".testreport"
    return {
        str(path.relative_to(root)): path.read_bytes().decode("utf-8", "replace")
        for path in folder.rglob("*")
        if path.is_file()
    }


def received(*fakes: FakeService) -> str:
    """Everything the services were sent but the Authorization header: paths, queries, bodies."""
    return "\n".join(
        f"{r.method} {r.path} {r.query} {r.text}" for fake in fakes for r in fake.requests
    )


@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_no_credential_leaves_the_plugin(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    fakes: tuple[FakeBuddy, FakeBrowserStack, FakeBuildkite],
    delivery: str,
) -> None:
    buddy, browserstack, buildkite = fakes
    use_fakes(monkeypatch, *fakes)
    monkeypatch.setenv("TESTREPORT_DELIVERY", delivery)
    pytester.makepyfile(test_leaky=LEAKY_SUITE)
    inject_echoes(buddy, browserstack, buildkite)

    sent = pytester.runpytest_subprocess(*RUN_ARGS, "--testreport-debug")
    assert sent.ret == pytest.ExitCode.TESTS_FAILED
    dry = pytester.runpytest_subprocess(*RUN_ARGS, "--testreport-dry-run")
    assert dry.ret == pytest.ExitCode.TESTS_FAILED

    terminal = "\n".join(sent.outlines + sent.errlines + dry.outlines + dry.errlines)
    assert ECHO in terminal  # the echoes were reported: masked, not dropped
    assert_no_leak("the terminal", terminal)
    files = files_under_testreport(pytester.path)
    assert any("DRY-RUN" in text for text in files.values()), sorted(files)
    assert any(ECHO in text for name, text in files.items() if "spool" in name)
    for name, text in files.items():
        assert_no_leak(name, text)
    payloads = received(*fakes)
    assert "***" in payloads  # test content reached the services, scrubbed
    assert_no_leak("what the services received", payloads)

    monkeypatch.chdir(pytester.path)  # replay what was spooled, and read back
    code, output = run_cli("replay")
    assert code == 0, output
    for target in ("buddy", "browserstack", "buildkite"):
        code, listed = run_cli("list", "--target", target)
        assert code == 0, listed
        output += listed
    for fake in fakes:  # readers whose token a server quotes back
        fake.fail_next(1, 400, fake.error_body(400, echo_text()))
    for target in ("buddy", "browserstack", "buildkite"):
        code, refused = run_cli("list", "--target", target)
        assert code == 1 and ECHO in refused, refused
        output += refused
    assert_no_leak("the CLI's output", output)
    assert_no_leak("what the services received after replay", received(*fakes))
    for name, text in files_under_testreport(pytester.path).items():
        assert_no_leak(name, text)


# -- content scrubbing, and turning it off -------------------------------------------------

CONTENT_SUITE = """
import os
def test_prints():
    print("token is", os.environ["BUILDKITE_ANALYTICS_TOKEN"])
"""


def stored_stdout(pytester: pytest.Pytester) -> list[str]:
    with sqlite3.connect(store_path(pytester)) as conn:
        return [row[0].strip() for row in conn.execute("SELECT stdout FROM results")]


@pytest.mark.parametrize(("setting", "masked"), [(None, True), ("false", False)])
def test_content_scrubbing_is_on_unless_turned_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, setting: str, masked: bool
) -> None:
    # Only the local target runs; the Buildkite token is still a credential of the run.
    monkeypatch.setenv("BUILDKITE_ANALYTICS_TOKEN", BK_TOKEN)
    pytester.makepyfile(test_content=CONTENT_SUITE)
    args = ["--testreport=local", "--testreport-capture=all", "-p", "no:cacheprovider"]
    if setting is not None:
        args.append(f"--testreport-mask-secrets={setting}")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 0
    expected = "token is ***" if masked else f"token is {BK_TOKEN}"
    assert stored_stdout(pytester) == [expected]


def test_mask_secrets_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDKITE_ANALYTICS_TOKEN", BK_TOKEN)
    monkeypatch.setenv("TESTREPORT_MASK_SECRETS", "false")
    pytester.makepyfile(test_content=CONTENT_SUITE)
    result = pytester.runpytest_subprocess("--testreport=local", "--testreport-capture=all")
    assert result.ret == 0
    assert stored_stdout(pytester) == [f"token is {BK_TOKEN}"]


def test_a_bad_mask_secrets_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_content="def test_ok(): pass\n")
    result = pytester.runpytest_subprocess(
        "--testreport=local", "--testreport-mask-secrets=perhaps"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid value 'perhaps' for --testreport-mask-secrets*"])


# -- the registry and the scrubber -----------------------------------------------------------


def test_mask_hides_every_registered_form() -> None:
    register("Qx9UNITkey81", "Basic " + b64("someone:Qx9UNITkey82"))
    text = mask(
        "a Qx9UNITkey81 b " + b64("Qx9UNITkey81") + " c " + b64("someone:Qx9UNITkey82")
        + " d someone:Qx9UNITkey82"
    )  # fmt: skip
    assert "Qx9UNIT" not in text and b64("Qx9UNITkey81").rstrip("=") not in text
    assert text.count("***") == 4


def _result(text: str) -> TestResult:
    now = datetime(2026, 1, 2, tzinfo=timezone.utc)
    return TestResult(
        test=TestId(nodeid=f"t.py::test[{text}]", path="t.py", name=f"test[{text}]"),
        outcome=Outcome.FAILED, started_at=now, finished_at=now + timedelta(seconds=1),
        failures=[Failure(message=f"boom {text}", phase="call", traceback=[f"line {text}"])],
        stdout=f"out {text}", log=text, steps=[Step(text=f"step {text}", started_at=now)],
        logs=[LogEntry(timestamp=now, level="INFO", message=text)],
        metadata=[(f"key {text}", f"value {text}")], tags=[text],
    )  # fmt: skip


def test_scrubber_cleans_every_text_field_in_place() -> None:
    result = _result("Qx9SCRUB91 \ud800")
    Scrubber(["Qx9SCRUB91"]).clean(result)
    dumped = repr(result.model_dump(mode="json"))
    assert "Qx9SCRUB91" not in dumped and "\ud800" not in dumped
    assert result.failure is not None and result.failure.message == "boom *** \ufffd"
    assert result.metadata == [("key *** \ufffd", "value *** \ufffd")]
    assert result.name == "test[*** \ufffd]"  # in the frozen identity too
    assert result.outcome is Outcome.FAILED  # enums are not text to clean


def test_valid_text_replaces_lone_surrogates_only() -> None:
    assert valid_text("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    assert valid_text("plain \x00 é ‮ 😀") == "plain \x00 é ‮ 😀"


def test_a_lone_surrogate_reaches_no_target(tmp_path: Path) -> None:
    """Regression: a surrogate in a failure, a step or metadata made the local target raise."""
    store = tmp_path / "results.sqlite"
    engine = Engine([LocalTarget(store)], tmp_path / "spool")
    session = Session(args=["-k", "\udcff"])
    engine.start(session)
    engine.submit(_result("bad \ud800 text"))
    session.count(_result("x"))
    session.finish()
    (state,) = engine.finish(session, 10.0)
    assert (state.delivered, state.undelivered, state.errors) == (1, 0, [])
    with sqlite3.connect(store) as conn:
        stored = " ".join(str(row) for row in conn.execute("SELECT * FROM results"))
    assert "bad \ufffd text" in stored


def test_a_token_from_a_token_file_is_a_secret_of_the_run(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("Qx9FILEtoken76\n")
    env = {"TESTREPORT_BUILDKITE_TOKEN_FILE": str(tmp_path / "token")}
    found = settings_secrets(settings_from_env(env, tmp_path))
    assert "Qx9FILEtoken76" in found and b64("Qx9FILEtoken76").rstrip("=") in found
    assert mask("echo Qx9FILEtoken76") == "echo ***"
