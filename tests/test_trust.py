"""Issue 15 item 10: our warnings never raise, the TLS notice is always seen, plain http:// to a
vendor is refused, and what the plugin writes under .testreport/ is private to its owner."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_testreport.engine.debuglog import DebugLog
from pytest_testreport.engine.spool import Journal
from pytest_testreport.model import Session
from pytest_testreport.targets.buddy.client import parse_api_url
from pytest_testreport.targets.local.target import connect
from pytest_testreport.targets.options import parse_url

from .fakes.buddy import FakeBuddy


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeBuddy) -> None:
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)


TLS_NOTICE = "testreport buddy: TLS verification is OFF (testreport_buddy_verify = false)"


# -- warnings of ours never raise ---------------------------------------------------------------
@pytest.mark.parametrize(
    "filters",
    [["-W", "error"], ["-W", "ignore"], ["-o", "filterwarnings=ignore"]],
    ids=["W-error", "W-ignore", "ini-ignore"],
)
def test_tls_off_never_raises_and_is_in_the_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy, filters
) -> None:
    use_fake(monkeypatch, buddy_fake)
    pytester.makepyfile(test_a="def test_a(): pass\n")
    result = pytester.runpytest_subprocess(
        "--testreport=buddy", "--testreport-buddy-verify=false", "-p", "no:cacheprovider", *filters
    )
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines([TLS_NOTICE])  # whatever the warning filters say
    assert len(buddy_fake.session.cases) == 1
    warning = "TestReportWarning: testreport: TLS verification is OFF for buddy"
    if filters == ["-W", "error"]:  # an error filter shows it (pytest < 8 shows it anyway)
        assert warning in result.stdout.str() + result.stderr.str()


def test_tls_on_has_no_notice(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, buddy_fake: FakeBuddy
) -> None:
    use_fake(monkeypatch, buddy_fake)
    pytester.makepyfile(test_a="def test_a(): pass\n")
    result = pytester.runpytest_subprocess("--testreport=buddy", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    assert "TLS verification" not in result.stdout.str() + result.stderr.str()


def test_api_warnings_never_raise(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        from pytest_testreport import step, metadata
        metadata("at", "import")

        def test_a():
            with step("in a thread-less place"):
                pass

        def test_b():
            pass
        """,
        conftest="""
        from pytest_testreport import metadata
        metadata("at", "conftest")
        """,
    )
    result = pytester.runpytest_subprocess("--testreport", "-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    output = result.stdout.str() + result.stderr.str()
    assert "metadata() called outside a running test; ignored" in output


# -- plain http:// to a vendor host -------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://api.buddy.works",
        "http://API.EU.Buddy.Works./",
        "http://buddy.works:80/api",
        "http://analytics-api.buildkite.com/v1",
        "http://api-automation.browserstack.com/ext/v1",
    ],
)
def test_plain_http_to_a_vendor_is_refused(url: str) -> None:
    for parse in (parse_api_url, parse_url):
        with pytest.raises(ValueError, match="use https://"):
            parse(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.buddy.works",
        "http://127.0.0.1:8080/api",
        "http://localhost:9000",
        "http://[::1]:9000",
        "http://buddy.example.com/api",
        "http://notbuddy.works.example.com",
        "http://evilbuddy.works",
    ],
)
def test_https_loopback_and_other_hosts_stay_allowed(url: str) -> None:
    assert parse_api_url(url).rstrip("/") == url.rstrip("/")
    assert parse_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    ("option", "url"),
    [
        ("--testreport-buddy-api-url", "http://api.buddy.works"),
        ("--testreport-buildkite-api-url", "http://analytics-api.buildkite.com/v1"),
        ("--testreport-buildkite-rest-url", "http://api.buildkite.com/v2"),
        ("--testreport-browserstack-api-url", "http://api-automation.browserstack.com/ext/v1"),
    ],
)
def test_plain_http_vendor_option_is_a_usage_error(
    pytester: pytest.Pytester, option: str, url: str
) -> None:
    pytester.makepyfile(test_a="def test_a(): pass\n")
    result = pytester.runpytest_subprocess(f"{option}={url}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option}*use https://*"])
    assert not (pytester.path / ".testreport").exists()


def test_plain_http_vendor_env_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDDY_API_URL", "http://api.eu.buddy.works")
    pytester.makepyfile(test_a="def test_a(): pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*BUDDY_API_URL*use https://*"])


# -- file modes ---------------------------------------------------------------------------------
@pytest.fixture
def umask022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_spool_is_private(tmp_path: Path, umask022: None) -> None:
    journal = Journal(tmp_path / ".testreport" / "spool", "buddy", Session())
    journal.add_open()
    journal.close()
    assert mode(journal.path) == 0o600
    assert mode(tmp_path / ".testreport" / "spool") == 0o700
    assert mode(tmp_path / ".testreport") == 0o700


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_debug_log_is_private(tmp_path: Path, umask022: None) -> None:
    log = DebugLog(tmp_path / ".testreport" / "debug.log")
    log.write("buddy", "POST /sessions 201")
    log.close()
    assert mode(log.path) == 0o600
    assert mode(tmp_path / ".testreport") == 0o700
    assert log.path.read_text().endswith("buddy POST /sessions 201\n")


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_store_is_private(tmp_path: Path, umask022: None) -> None:
    path = tmp_path / ".testreport" / "results.sqlite"
    connect(path, create=True).close()
    assert mode(path) == 0o600
    assert mode(tmp_path / ".testreport") == 0o700


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_existing_folder_keeps_its_mode(tmp_path: Path, umask022: None) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    log = DebugLog(folder / "debug.log")
    log.write("buddy", "line")
    log.close()
    assert mode(folder) == 0o755  # not created by the plugin: left alone
    assert mode(log.path) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_run_leaves_private_files(pytester: pytest.Pytester, umask022: None) -> None:
    pytester.makepyfile(test_a="def test_a(): pass\n")
    result = pytester.runpytest_subprocess("--testreport", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    folder = pytester.path / ".testreport"
    assert mode(folder) == 0o700
    assert [(p.name, mode(p)) for p in folder.iterdir() if p.is_file()] == [
        ("results.sqlite", 0o600)
    ]
