"""Turning reporting on and off, option precedence and start-up errors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from pytest_testreport.config import Option, all_options, settings_from_env

from .conftest import cli_json, latest


def _ran_local(pytester: pytest.Pytester) -> bool:
    return (pytester.path / ".testreport" / "results.sqlite").exists()


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_cfg="def test_a(): pass\n")
    return pytester


def test_off_by_default(suite: pytest.Pytester) -> None:
    suite.runpytest().assert_outcomes(passed=1)
    assert not _ran_local(suite)


# What a run that reports nothing may load of ours: the option declarations, not the targets.
# history_options: the shard and quarantine options (declarations only); targets.<name>: each
# target's spec (its __init__: name, options, credentials), never its target/reader/cli modules.
START_UP_MODULES = {"api", "config", "history_options", "hookspecs", "option", "paths", "plugin",
                    "runner", "targets", "targets.options", "targets.spec", "targets.local",
                    "targets.buddy", "targets.browserstack", "targets.buildkite",
                    "text"}  # fmt: skip


def test_a_run_that_reports_nothing_imports_no_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_loaded="""
        import json, sys

        def test_loaded():
            ours = [m.split(".", 1)[1] for m in sys.modules if m.startswith("pytest_testreport.")]
            print("LOADED=" + json.dumps(ours))
        """
    )
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    line = next(line for line in result.outlines if "LOADED=" in line)
    loaded = set(json.loads(line.split("LOADED=", 1)[1]))
    assert loaded <= START_UP_MODULES, sorted(loaded - START_UP_MODULES)


@pytest.mark.parametrize("option", all_options(), ids=lambda option: option.name)
def test_every_parser_answers_or_says_why(option: Option) -> None:
    """Parsers the targets' specs name (``deferred``) resolve: a bad value is a ValueError."""
    for value in ("", "x", "1", "true", "10/5", "4096", "https://example.com/api", "a=b"):
        with contextlib.suppress(ValueError):
            option.parse(value)


@pytest.mark.parametrize(
    "how",
    ["flag", "flag_value", "env", "ini"],
)
def test_turned_on_from_each_source(suite: pytest.Pytester, monkeypatch, how: str) -> None:
    args: list[str] = []
    if how == "flag":
        args = ["--testreport"]
    elif how == "flag_value":
        args = ["--testreport=local"]
    elif how == "env":
        monkeypatch.setenv("TESTREPORT", "local")
    else:
        suite.makeini("[pytest]\ntestreport = local\n")
    suite.runpytest(*args).assert_outcomes(passed=1)
    assert latest(suite)["tests_count"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--testreport", "test_cfg.py"],
        ["--testreport", "test_cfg.py", "-q"],
        ["-q", "--testreport", "."],
    ],
)
def test_bare_flag_before_a_path_means_local(suite: pytest.Pytester, args: list[str]) -> None:
    suite.runpytest(*args).assert_outcomes(passed=1)
    assert latest(suite)["tests_count"] == 1


def test_no_testreport_beats_everything(suite: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("TESTREPORT", "local")
    suite.makeini("[pytest]\ntestreport = local\n")
    suite.runpytest("--testreport", "--no-testreport").assert_outcomes(passed=1)
    assert not _ran_local(suite)


def test_env_value_off_turns_ini_off(suite: pytest.Pytester, monkeypatch) -> None:
    suite.makeini("[pytest]\ntestreport = local\n")
    monkeypatch.setenv("TESTREPORT", "none")
    suite.runpytest().assert_outcomes(passed=1)
    assert not _ran_local(suite)


def test_precedence_cli_over_env_over_ini(suite: pytest.Pytester, monkeypatch) -> None:
    suite.makeini("[pytest]\ntestreport = local\ntestreport_local_path = from-ini.sqlite\n")
    suite.runpytest().assert_outcomes(passed=1)
    assert (suite.path / "from-ini.sqlite").exists()
    monkeypatch.setenv("TESTREPORT_LOCAL_PATH", "from-env.sqlite")
    suite.runpytest().assert_outcomes(passed=1)
    assert (suite.path / "from-env.sqlite").exists()
    suite.runpytest("--testreport-local-path=from-cli.sqlite").assert_outcomes(passed=1)
    assert (suite.path / "from-cli.sqlite").exists()
    for name, count in [("from-ini", 1), ("from-env", 1), ("from-cli", 1)]:
        sessions = cli_json("list", "--store", str(suite.path / f"{name}.sqlite"))
        assert len(sessions) == count


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--testreport=local,nosuch"], {}, "unknown target 'nosuch' in --testreport"),
        ([], {"TESTREPORT": "jenkins"}, "unknown target 'jenkins' in TESTREPORT"),
        (["--testreport", "--testreport-flush-timeout=soon"], {},
         "invalid value 'soon' for --testreport-flush-timeout"),
        (["--testreport"], {"TESTREPORT_CAPTURE": "everything"},
         "invalid value 'everything' for TESTREPORT_CAPTURE: expected one of failed, all, none"),
        (["--testreport-failed-from=jenkins"], {}, "--testreport-failed-from=jenkins"),
        (["--testreport-failed-from=browserstack"], {}, "target must be one of local, buddy,"),
    ],
)  # fmt: skip
def test_misconfiguration_is_a_usage_error(
    suite: pytest.Pytester, monkeypatch, args: list[str], env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = suite.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in "\n".join(result.errlines)
    assert not _ran_local(suite)


def test_bad_ini_value_names_the_ini_key(suite: pytest.Pytester) -> None:
    suite.makeini("[pytest]\ntestreport = local\ntestreport_auto = maybe\n")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "invalid value 'maybe' for ini testreport_auto" in "\n".join(result.errlines)


def test_named_targets_win_over_credentials(suite: pytest.Pytester, monkeypatch) -> None:
    # A credential in the environment adds no target when targets are named.
    monkeypatch.setenv("BUDDY_UT_TOKEN", "bud_ut_us_secret")
    suite.runpytest("--testreport=local").assert_outcomes(passed=1)
    assert latest(suite)["tests_count"] == 1


def test_ci_overrides_are_recorded(suite: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("TESTREPORT_BRANCH", "refs/heads/feature/x")
    suite.runpytest("--testreport", "--testreport-revision=abc123").assert_outcomes(passed=1)
    session = latest(suite)
    assert (session["branch"], session["revision"]) == ("feature/x", "abc123")


def test_reporting_failure_never_changes_exit_status(suite: pytest.Pytester) -> None:
    (suite.path / "blocker").write_text("a file where a directory should be")
    result = suite.runpytest("--testreport", "--testreport-local-path=blocker/results.sqlite")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["testreport local: opening the session failed*"])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.ini", "[pytest]\ntestreport_flush_timeout = 7\n"),
        ("pyproject.toml", "[tool.pytest.ini_options]\ntestreport_flush_timeout = '7'\n"),
        ("tox.ini", "[pytest]\ntestreport_flush_timeout = 7\n"),
        ("setup.cfg", "[tool:pytest]\ntestreport_flush_timeout = 7\n"),
    ],
)
def test_cli_settings_read_the_ini_file_under_the_environment(tmp_path, name, text) -> None:
    from pytest_testreport.config import settings_from_env

    (tmp_path / name).write_text(text)
    assert settings_from_env({}, tmp_path).flush_timeout == 7.0
    env = {"TESTREPORT_FLUSH_TIMEOUT": "9"}
    assert settings_from_env(env, tmp_path).flush_timeout == 9.0
    assert settings_from_env({}, tmp_path / "missing").flush_timeout == 30.0


def test_ci_facts_are_detected_once_per_run(tmp_path: Path) -> None:
    """Selection (--testreport-failed-from) and the session share one detection: git runs once."""
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "feature/x", "TESTREPORT_BRANCH": "main"}
    settings = settings_from_env(env, tmp_path)
    first = settings.ci()
    assert first.provider == "github_actions" and first.branch == "main"  # the override wins
    assert settings.ci() is first
