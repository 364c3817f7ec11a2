"""The readers parse what the services answer into pydantic models (targets/<name>/answers.py).

An answer of an unexpected shape is one clear error naming the field, through the reader's
error path: exit 1 in the CLI, "cannot read ...; running all tests" for failed-from. The good
answers are the existing CLI tests' (test_buddy.py, test_buildkite.py, test_browserstack.py).
Each fake here answers one request with a malformed body (``fail_next`` with status 200).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, Optional

import pytest
from pydantic import Field

from pytest_testreport.answers import Answer, UnexpectedAnswer, parse
from pytest_testreport.cli import main as cli_main
from pytest_testreport.config import settings_from_env
from pytest_testreport.engine.errors import DeliveryError
from pytest_testreport.targets import install

from .fakes.browserstack import FakeBrowserStack
from .fakes.buddy import FakeBuddy
from .fakes.buildkite import FakeBuildkite


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(args))
    return code, out.getvalue(), err.getvalue()


def use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


# -- the message --------------------------------------------------------------------------------
class Thing(Answer):
    id: str
    count: Optional[int] = None
    parts: list[dict[str, int]] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"count": 1}, "Svc answered an unexpected thing: field 'id': missing"),
        ({"id": "a", "count": "many"}, "field 'count': Input should be a valid integer"),
        ({"id": "a", "parts": [{"n": "x"}]}, "field 'parts[0].n': Input should be a valid integer"),
        (["a"], "Svc answered an unexpected thing: Input should be a valid dictionary"),
    ],
)
def test_an_unexpected_answer_names_its_first_bad_field(data: Any, message: str) -> None:
    with pytest.raises(UnexpectedAnswer) as raised:
        parse(Thing, data, "Svc", "thing")
    assert message in str(raised.value)
    assert str(raised.value).count("field") <= 1  # one error, not pydantic's list
    assert isinstance(raised.value, DeliveryError)  # the readers' existing error path


def test_a_good_answer_keeps_what_it_does_not_declare() -> None:
    thing = parse(Thing, {"id": 7, "count": "3", "extra": [1]}, "Svc", "thing")
    assert (thing.id, thing.count, thing.model_extra) == ("7", 3, {"extra": [1]})


# -- Buildkite ----------------------------------------------------------------------------------
def test_buildkite_run_without_id(monkeypatch, buildkite_fake: FakeBuildkite) -> None:
    use(monkeypatch, buildkite_fake.env())
    buildkite_fake.fail_next(1, 200, body={"branch": "main"}, path="/runs/r1$")
    code, out, err = cli("show", "r1", "--target", "buildkite")
    assert (code, out) == (1, "")
    assert "Buildkite answered an unexpected run: field 'id': missing" in err


def test_buildkite_page_that_is_not_a_list(monkeypatch, buildkite_fake: FakeBuildkite) -> None:
    use(monkeypatch, buildkite_fake.env())
    buildkite_fake.fail_next(1, 200, body={"runs": []}, path="/runs$")
    code, _, err = cli("list", "--target", "buildkite")
    assert code == 1 and "Buildkite answered an unexpected page of runs: a JSON dict" in err


def test_buildkite_failed_execution(monkeypatch, buildkite_fake: FakeBuildkite) -> None:
    use(monkeypatch, buildkite_fake.env())
    run = {"id": "r1", "state": "finished"}
    buildkite_fake.fail_next(5, 200, body=run, path="/runs/r1$")  # each read of the run
    buildkite_fake.fail_next(1, 200, body=[{"test_name": "t", "duration": "slow"}],
                             path="/failed_executions$")  # fmt: skip
    code, _, err = cli("failed", "r1", "--target", "buildkite")
    assert code == 1
    assert "Buildkite answered an unexpected failed execution: field 'duration': " in err


def test_buildkite_failed_from_runs_everything(tmp_path: Path, buildkite_fake: FakeBuildkite):
    install()
    from pytest_testreport.targets.buildkite.reader import BuildkiteReader

    buildkite_fake.fail_next(1, 200, body={"id": ["r1"]}, path="/runs/r1$")
    found = BuildkiteReader.failed_from(settings_from_env(buildkite_fake.env(), tmp_path), "r1")
    assert found.nodeids == []
    assert found.message == (
        "testreport: cannot read Buildkite (Buildkite answered an unexpected run: field 'id': "
        "Input should be a valid string); running all tests"
    )


# -- Buddy --------------------------------------------------------------------------------------
def test_buddy_session_with_bad_count(monkeypatch, buddy_fake: FakeBuddy) -> None:
    use(monkeypatch, buddy_fake.env())
    buddy_fake.fail_next(1, 200, body={"id": "s1", "tests_count": "many"}, path="/sessions/s1$")
    code, out, err = cli("show", "s1", "--target", "buddy")
    assert (code, out) == (1, "")
    assert "Buddy answered an unexpected session: field 'tests_count': Input should be" in err


def test_buddy_listed_session_without_id(monkeypatch, buddy_fake: FakeBuddy) -> None:
    use(monkeypatch, buddy_fake.env())
    buddy_fake.fail_next(1, 200, body={"sessions": [{"relative_id": 1}]}, path="/sessions$")
    code, _, err = cli("list", "--target", "buddy")
    assert code == 1 and "Buddy answered an unexpected session: field 'id': missing" in err


def test_buddy_case_with_bad_time(monkeypatch, buddy_fake: FakeBuddy) -> None:
    use(monkeypatch, buddy_fake.env())
    buddy_fake.fail_next(1, 200, body={"id": "s1", "status": "ERROR"}, path="/sessions/s1$")
    buddy_fake.fail_next(1, 200, body={"cases": [{"id": "c1", "time": "long"}]},
                         path="/sessions/s1/cases$")  # fmt: skip
    code, _, err = cli("show", "s1", "--target", "buddy")
    assert code == 1 and "Buddy answered an unexpected case: field 'time': " in err


def test_buddy_failed_from_runs_everything(tmp_path: Path, buddy_fake: FakeBuddy) -> None:
    install()
    from pytest_testreport.targets.buddy.reader import BuddyReader

    buddy_fake.fail_next(1, 200, body={"id": "s1", "relative_id": "first"}, path="/sessions/s1$")
    found = BuddyReader.failed_from(settings_from_env(buddy_fake.env(), tmp_path), "s1")
    assert found.nodeids == []
    assert found.message.startswith(
        "testreport: cannot read Buddy (Buddy answered an unexpected session: field "
        "'relative_id': Input should be a valid integer"
    )


# -- BrowserStack -------------------------------------------------------------------------------
def test_browserstack_build_with_bad_counts(monkeypatch, browserstack_fake: FakeBrowserStack):
    use(monkeypatch, browserstack_fake.env())
    browserstack_fake.fail_next(1, 200, body={"build_id": "b1", "status_stats": [3]},
                                path="/builds/b1$")  # fmt: skip
    code, out, err = cli("show", "b1", "--target", "browserstack")
    assert (code, out) == (1, "")
    assert ("BrowserStack answered an unexpected build: field 'status_stats': Input should be "
            "a valid dictionary") in err  # fmt: skip


def test_browserstack_test_run_with_bad_failure(monkeypatch, browserstack_fake: FakeBrowserStack):
    use(monkeypatch, browserstack_fake.env())
    browserstack_fake.fail_next(1, 200, body={"build_id": "b1", "status": "failed"},
                                path="/builds/b1$")  # fmt: skip
    runs = {"test_runs": [{"name": "t", "failure": [{"backtrace": "not a list"}]}]}
    browserstack_fake.fail_next(1, 200, body=runs, path="/builds/b1/testRuns$")
    code, _, err = cli("show", "b1", "--target", "browserstack")
    assert code == 1
    assert ("BrowserStack answered an unexpected test run: field 'failure[0].backtrace': "
            "Input should be a valid list") in err  # fmt: skip
