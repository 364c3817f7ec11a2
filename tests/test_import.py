"""``pytest-testreport import``: JUnit XML of pytest and other runners into the local store."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pytest_testreport.model import COUNT_FIELDS
from tests.conftest import cli_json

from .helpers_store import run, run_json

EXAMPLES = Path(__file__).parent.parent / "examples"

# A call failure with a teardown error, a teardown error alone, a strict xpass, a collection
# error, a rerun plugin's attempts: what pytest's junit writes in its own ways.
EDGES = """
import pytest

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_fails_then_teardown(broken_teardown):
    assert 0, "call failed"

def test_teardown_only(broken_teardown):
    pass

@pytest.mark.xfail(strict=True, reason="should fail")
def test_strict_xpass():
    pass

class TestNested:
    class TestInner:
        @pytest.mark.parametrize("x", [1.5, "a.b"])
        def test_param(self, x):
            print("out of", x)
"""


def finals(session: dict[str, Any]) -> dict[str, str]:
    """Final outcomes by node id; pytest's junit writes a (non-strict) xpass as a pass."""
    return {
        t["nodeid"]: "passed" if t["outcome"] == "xpassed" else t["outcome"]
        for t in session["tests"]
        if t["final"]
    }


def record_and_junit(pytester: pytest.Pytester, family: str, *args: str) -> Path:
    """Run the suite once with the local target and pytest's --junitxml; the junit path."""
    junit = pytester.path / f"junit-{family}.xml"
    pytester.runpytest_subprocess(
        "--testreport", f"--junitxml={junit}", "-o", f"junit_family={family}",
        "-o", "junit_logging=all", "-p", "no:cacheprovider", *args,
    )  # fmt: skip
    return junit


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_pytest_junit_of_the_examples_round_trips_to_what_the_local_target_recorded(
    pytester: pytest.Pytester,
    family: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(EXAMPLES, pytester.path / "examples")
    junit = record_and_junit(pytester, family, "examples")
    recorded = cli_json("show", "latest", "--store", str(pytester.path / ".testreport"))
    imported_store = tmp_path / "imported.sqlite"
    code, _, err = run(capsys, "import", str(junit), "--store", str(imported_store))
    assert code == 0, err
    imported = cli_json("show", "latest", "--store", str(imported_store))
    assert {k: imported[k] for k in COUNT_FIELDS} == {k: recorded[k] for k in COUNT_FIELDS}
    assert imported["tests_count"] == 18
    assert finals(imported) == finals(recorded)
    assert imported["status"] == recorded["status"] == "error"
    by_id = {t["nodeid"]: t for t in imported["tests"]}
    bad = by_id["examples/test_cart.py::TestCoupons::test_coupons_do_not_stack"]
    assert bad["failure"]["message"].startswith("AssertionError: only the best coupon")
    assert bad["failure"]["phase"] == "call"
    assert "discount after two coupons" in bad_stdout(imported_store, bad["nodeid"])
    setup = by_id["examples/test_checkout.py::test_charge_on_live_sandbox"]
    assert (setup["outcome"], setup["failure"]["phase"]) == ("error", "setup")
    assert by_id["examples/test_cart.py::test_remove_unknown_sku_raises"]["reason"] == (
        "removing an unknown SKU should raise KeyError (SHOP-7)")  # fmt: skip
    if family == "xunit1":  # xunit1 writes file and (0-based) line
        rec = {t["nodeid"]: t for t in recorded["tests"]}
        assert bad["line"] == rec[bad["nodeid"]]["line"]


def bad_stdout(store: Path, nodeid: str) -> str:
    conn = sqlite3.connect(store)
    try:
        return conn.execute("SELECT stdout FROM results WHERE nodeid = ?", (nodeid,)).fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_teardown_errors_strict_xpass_collection_errors_and_nested_classes_round_trip(
    pytester: pytest.Pytester,
    family: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytester.makepyfile(test_edges=EDGES)
    pytester.makepyfile(test_broken="import not_a_module_anywhere\n")
    junit = record_and_junit(pytester, family, "--continue-on-collection-errors")
    recorded = cli_json("show", "latest", "--store", str(pytester.path / ".testreport"))
    store = tmp_path / "s.sqlite"
    # Without the file attribute (xunit2), modules are found under --rootdir.
    code, _, err = run(capsys, "import", str(junit), "--store", str(store),
                              "--rootdir", str(pytester.path))  # fmt: skip
    assert code == 0, err
    imported = cli_json("show", "latest", "--store", str(store))
    assert finals(imported) == finals(recorded)
    assert {k: imported[k] for k in COUNT_FIELDS} == {k: recorded[k] for k in COUNT_FIELDS}
    by_id = {t["nodeid"]: t for t in imported["tests"]}
    both = by_id["test_edges.py::test_fails_then_teardown"]
    assert both["outcome"] == "failed"
    assert "error in teardown" in "\n".join(both["failure"]["traceback"])
    assert by_id["test_broken.py"]["kind"] == "collection_error"
    assert by_id["test_broken.py"]["name"] == "test_broken.py"
    assert "test_edges.py::TestNested::TestInner::test_param[1.5]" in by_id


def test_importing_twice_adds_nothing_and_leaves_the_file_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(SUREFIRE, encoding="utf-8")
    before = junit.read_bytes(), junit.stat().st_mtime_ns
    store = str(tmp_path / "s.sqlite")
    first = run_json(capsys, "import", str(junit), "--store", store)
    again = run_json(capsys, "import", str(junit), "--store", store)
    assert [f["status"] for f in first] == ["imported"]
    assert [f["status"] for f in again] == ["present"]
    assert again[0]["session"] == first[0]["session"]
    assert len(run_json(capsys, "list", "--store", store)) == 1
    assert (junit.read_bytes(), junit.stat().st_mtime_ns) == before


SUREFIRE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.shop.CartTest" tests="3" failures="1" errors="0" skipped="1" time="1,234.5"
           timestamp="2024-05-01T10:00:00" hostname="ci-7">
  <properties><property name="java.version" value="21"/></properties>
  <testcase name="adds" classname="com.shop.CartTest" time="0.5">
    <flakyFailure message="timeout" type="java.lang.AssertionError">
      <stackTrace>at Cart.add(Cart.java:3)</stackTrace>
    </flakyFailure>
  </testcase>
  <testcase name="removes" classname="com.shop.CartTest" time="1.25">
    <failure message="expected 1 but was 2" type="AssertionError">trace line</failure>
    <system-out>hello</system-out>
    <system-err>oops</system-err>
  </testcase>
  <testcase name="later" classname="com.shop.CartTest" time="0"><skipped/></testcase>
</testsuite>
"""


def test_other_runners_variants_bare_testsuite_reruns_and_properties(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "surefire.xml"
    junit.write_text(SUREFIRE, encoding="utf-8")
    store = str(tmp_path / "s.sqlite")
    code, _, err = run(capsys, "import", str(junit), "--store", store, "--branch", "dev",
                       "--revision", "abc123")  # fmt: skip
    assert code == 0, err
    session = run_json(capsys, "show", "latest", "--store", store)
    assert (session["branch"], session["revision"]) == ("dev", "abc123")
    assert session["started_at"] == "2024-05-01T10:00:00Z"
    assert session["duration"] == 1234.5
    assert [(t["nodeid"], t["outcome"], t["attempt"], t["final"]) for t in session["tests"]] == [
        ("com.shop.CartTest::adds", "failed", 1, False),
        ("com.shop.CartTest::adds", "passed", 2, True),
        ("com.shop.CartTest::removes", "failed", 1, True),
        ("com.shop.CartTest::later", "skipped", 1, True),
    ]
    removes = session["tests"][2]
    assert removes["failure"] == {"message": "expected 1 but was 2", "phase": "call",
                                  "traceback": ["trace line"]}  # fmt: skip
    assert removes["duration"] == 1.25
    assert session["tests"][0]["failure"]["traceback"] == ["at Cart.add(Cart.java:3)"]
    assert (session["passed_count"], session["failed_count"], session["skipped_count"]) == (1, 1, 1)


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<testsuite><testcase classname="a" name="&lol2;"/></testsuite>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/hostname">]>
<testsuite><testcase classname="a" name="&x;"/></testsuite>
"""


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (BOMB, "a DOCTYPE is not allowed"),
        (EXTERNAL, "a DOCTYPE is not allowed"),
        ("<testsuite><testcase name='x'>", "not well-formed XML"),
        ("<html><body/></html>", "not JUnit XML (the root element is <html>)"),
    ],
)
def test_a_bad_file_is_one_clear_error_and_the_other_files_are_still_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, why: str
) -> None:
    bad, good = tmp_path / "bad.xml", tmp_path / "good.xml"
    bad.write_text(content, encoding="utf-8")
    good.write_text(SUREFIRE, encoding="utf-8")
    store = str(tmp_path / "s.sqlite")
    code, out, err = run(capsys, "import", str(bad), str(good), "--store", store)
    assert code == 1
    assert f"bad.xml: {why}" in err
    assert "Traceback" not in err
    assert "good.xml: session 1, 3 tests" in out
    assert len(run_json(capsys, "list", "--store", store)) == 1
