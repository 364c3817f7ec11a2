"""Helpers for the BrowserStack target's tests: a suite, running it, checking what the fake saw."""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import mangle_test_address

from pytest_testreport.cli import main as cli_main
from tests.fakes import BsRun, FakeBrowserStack
from tests.junit import junit_outcomes

SUITE = {
    "test_alpha": """
        import logging
        import pytest
        from pytest_testreport import step, metadata

        @pytest.fixture
        def broken():
            raise RuntimeError("no database")

        @pytest.fixture
        def bad_teardown():
            yield
            raise RuntimeError("cleanup failed")

        def test_pass():
            with step("open the page", keyword="Given"):
                with step("click"):
                    metadata("ticket", "PROJ-1")

        def test_fail():
            logging.getLogger("app").error("it broke")
            print("some output")
            assert 0, "alpha failed"

        def test_error(broken): pass
        def test_teardown_error(bad_teardown): pass
        def test_fail_and_teardown(bad_teardown): assert 0, "both"

        @pytest.mark.parametrize("n", range(4))
        def test_param(n): assert n != 2

        class TestGroup:
            class TestInner:
                def test_nested(self): pass
            @pytest.mark.skip(reason="later")
            def test_skipped(self): pass
        """,
    "test_beta": """
        import pytest

        @pytest.mark.xfail(reason="known")
        def test_xfail(): assert 0

        @pytest.mark.xfail(reason="maybe")
        def test_xpass(): pass

        @pytest.mark.xfail(reason="strict", strict=True)
        def test_strict(): pass

        def test_timeout(): pytest.fail("Timeout (>0.1s) from pytest-timeout.")
        """,
    "test_limits": """
        import pytest
        from pytest_testreport import metadata

        MARKS = [getattr(pytest.mark, f"mark{i}") for i in range(40)]

        def _apply(func):
            for mark in MARKS:
                func = mark(func)
            return func

        @_apply
        def test_many_markers(): pass

        # Explicit ids: pytest >= 9 would shorten long string ids to value0, value1.
        @pytest.mark.parametrize("value", ["x" * 3000, "y" * 3000], ids=lambda v: v)
        def test_long_id(value): pass

        def test_huge_traceback():
            raise AssertionError("\\n".join(f"line {i}" for i in range(50_000)))

        def test_much_metadata():
            for i in range(30):
                metadata(f"key{i}", "v" * 800)
            for i in range(12):
                metadata("repeated", i)
        """,
    "test_broken_import": "import no_such_module_anywhere\n\ndef test_never(): pass\n",
}
INI = "[pytest]\nmarkers =\n" + "".join(f"    mark{i}\n" for i in range(40))


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeBrowserStack, **extra: str) -> None:
    for name, value in {**fake.env(), **extra}.items():
        monkeypatch.setenv(name, value)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--testreport=browserstack", "-p", "no:cacheprovider", "--testreport-flush-timeout=20",
        *args,
    )  # fmt: skip


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(args))
    return code, out.getvalue(), err.getvalue()


def replay(pytester: pytest.Pytester) -> tuple[int, str]:
    os.chdir(pytester.path)
    code, out, err = cli("replay", "--target", "browserstack")
    return code, out + err


def meta(run: BsRun, key: str) -> Any:
    return (run.finish or run.start).get("custom_metadata", {}).get(key)


def runs_by_attempt(fake: FakeBrowserStack) -> dict[tuple[str, int], BsRun]:
    """Every test run of the only build by (nodeid, attempt); fails on a duplicate."""
    seen = Counter(
        (meta(r, "pytest.nodeid"), int(meta(r, "attempt"))) for r in fake.build.tests.values()
    )
    duplicates = [key for key, count in seen.items() if count > 1]
    assert not duplicates, f"duplicate test runs: {duplicates}"
    return {
        (meta(r, "pytest.nodeid"), int(meta(r, "attempt"))): r for r in fake.build.tests.values()
    }


def check_build(fake: FakeBrowserStack, *, finished: bool = True) -> dict[tuple[str, int], BsRun]:
    """One build; every test run started once and finished after its start; build finished last."""
    assert not fake.errors, fake.errors
    build = fake.build
    runs = runs_by_attempt(fake)
    for run in runs.values():
        assert run.finish is not None, f"{run.name} never finished"
        assert run.finished is not None and run.finished >= run.started
    for hook in build.hooks.values():
        assert hook.finish is not None and hook.finish["hook_type"] == hook.start["hook_type"]
    refused = [r for r in fake.requests if r.status == 400 and r.fault is None]
    assert not refused, [(r.path, r.error) for r in refused]
    assert not build.late and not build.open_at_finish
    if finished:
        assert build.finish_count >= 1
        assert fake.kinds(build.id)[-1] == "build_finish"
    else:
        assert build.finished is None
    return runs


# junit has no xfail/xpass and BrowserStack no error: map both sides onto its four results.
_JUNIT = {"passed": "passed", "failed": "failed", "error": "failed", "skipped": "skipped"}


def junit_results(path: Path) -> dict[tuple[str, str], str]:
    return {key: _JUNIT[outcome] for key, outcome in junit_outcomes(path).items()}


_CUT = re.compile(r"… \[truncated \d+ characters\]")


def _uncut(key: tuple[str, str], full: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The one key of ``full`` that a node id cut to BrowserStack's metadata limit stands for."""
    if not _CUT.search(key[1]):
        return key
    head, tail = _CUT.split(key[1], maxsplit=1)
    found = [k for k in full if k[0] == key[0] and k[1].startswith(head) and k[1].endswith(tail)]
    assert len(found) == 1, f"{key} matches {len(found)} tests"
    return found[0]


def browserstack_results(
    runs: dict[tuple[str, int], BsRun], full: Iterable[tuple[str, str]] = ()
) -> dict[tuple[str, str], str]:
    """(classname, name) -> result of each final run; a cut node id is matched in ``full``."""
    results = {}
    for (nodeid, _), run in runs.items():
        if meta(run, "pytest.final") == "false":
            continue
        names = mangle_test_address(nodeid)
        result = "failed" if run.result == "timeout" else run.result
        results[_uncut((".".join(names[:-1]), names[-1]), full)] = result
    return results
