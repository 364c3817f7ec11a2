"""Time formats, text cleaning and request-sized slices each have one home; their outputs are
the ones the store, the CLI, BrowserStack, Buddy, Buildkite and the debug log always wrote."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pytest_testreport.batching import spans
from pytest_testreport.paths import DEBUG_LOG, REPORT, SPOOL, STORE
from pytest_testreport.text import clean_text, clean_xml
from pytest_testreport.timefmt import format_time, iso, iso_ms, parse_time

UTC = datetime(2026, 1, 2, 3, 4, 5, 987654, tzinfo=timezone.utc)
PLUS_TWO = UTC.astimezone(timezone(timedelta(hours=2)))


def test_time_formats() -> None:
    assert iso(UTC) == format_time(UTC) == "2026-01-02T03:04:05.987654Z"
    assert iso(UTC.replace(microsecond=0)) == "2026-01-02T03:04:05Z"
    # The store writes a time in its own zone; the CLI's JSON always in UTC.
    assert iso(PLUS_TWO) == "2026-01-02T05:04:05.987654+02:00"
    assert format_time(PLUS_TWO) == "2026-01-02T03:04:05.987654Z"
    assert iso_ms(UTC) == iso_ms(PLUS_TWO) == "2026-01-02T03:04:05.987Z"  # cut, not rounded
    assert iso(None) is None and format_time(None) is None
    assert parse_time("2026-01-02T03:04:05.987654Z") == UTC
    assert parse_time("2026-01-02T03:04:05") == UTC.replace(microsecond=0)  # naive: UTC
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_text_cleaning() -> None:
    raw = "\x1b[31mred\x1b[0m\x00 tab\tok\ud800 \ufffe end\x85"
    assert clean_text(raw) == "[31mred[0m tab\tok? \ufffe end"
    assert clean_xml(raw) == "red tab\tok?  end"
    assert clean_text("x" * 50, 40) == clean_xml("x" * 50, 40)
    assert len(clean_text("x" * 50, 40)) == 40 and "[truncated 10 characters]" in clean_text(
        "x" * 50, 40
    )
    assert clean_xml("x" * 50, -1) == "x" * 50  # Buddy's cleaner bounds nothing then


def test_request_sized_spans() -> None:
    assert spans([1] * 5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert spans([4, 4, 20, 1, 1], 10, size=10) == [(0, 2), (2, 3), (3, 5)]  # a big one alone
    assert spans([1] * 5, 2, start=3) == [(3, 5)]
    assert spans([], 3) == [] and spans([1, 1], 3, start=2) == []


def test_default_paths() -> None:
    assert [p.as_posix() for p in (STORE, SPOOL, DEBUG_LOG, REPORT)] == [
        ".testreport/results.sqlite", ".testreport/spool", ".testreport/debug.log",
        ".testreport/report.html",
    ]  # fmt: skip
