"""The targets' layout (issue 12, step 1): one package per target found through its spec.

Checks the shape the code must keep: ``config`` loads no target, the package has no import
cycle, no module name is built from a string, each target lives in its own package, and a
package outside this one adds a target through the entry-point group.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pytest_testreport
from pytest_testreport.targets import BUILTIN, ENTRY_POINT_GROUP, specs

PACKAGE = Path(pytest_testreport.__file__).parent
# Modules of targets/ that belong to no single target: discovery, the spec type, option helpers
# and the HTTP targets' shared base.
SHARED_TARGET_MODULES = {"__init__.py", "spec.py", "options.py", "remote.py"}


def test_importing_config_loads_no_target() -> None:
    code = (
        "import pytest_testreport.config, sys; "
        "print([m for m in sys.modules if m.startswith('pytest_testreport.targets.')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- import cycles ------------------------------------------------------------------------------
# Every import of pytest_testreport/** counts, also those inside functions (a deferred import
# hides a cycle only until that function runs). Imports under ``if TYPE_CHECKING:`` do not
# count: they never run, they only name types for the checker.


def _module_names() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, source: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules of ours that module ``name`` (its ``source``) imports, relative resolved."""
    base = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = base.split(".")[: len(base.split(".")) - (child.level - 1)]
                    source = ".".join(parts + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                for alias in child.names:  # ``from . import x``: x may be a submodule
                    sub = f"{source}.{alias.name}"
                    found.add(sub if sub in modules else source)
            visit(child)

    visit(ast.parse(source))
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = _module_names()
    return {
        name: _imports(name, path.read_text(encoding="utf-8"), is_package, set(modules))
        for name, (path, is_package) in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] when there is none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "pytest_testreport.targets.local.target" in graph  # the walk sees the packages
    assert find_cycle(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    # The check above is only worth something if this walk reports a cycle where there is one.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
    # A deferred import counts; one under TYPE_CHECKING does not.
    source = textwrap.dedent(
        """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from .b import X
        def f():
            from .c import Y
        """
    )
    assert _imports("pkg.a", source, False, {"pkg.a", "pkg.b", "pkg.c"}) == {"pkg.c"}
    # Relative imports resolve from a package's __init__ and from a module alike.
    assert _imports("pkg.sub", "from . import a", True, {"pkg.sub", "pkg.sub.a"}) == {"pkg.sub.a"}
    assert _imports("pkg.sub.m", "from .. import a", False, {"pkg.a", "pkg.sub.m"}) == {"pkg.a"}


# -- no module names built from strings -----------------------------------------------------------


# engine/__init__.py exports its names lazily from a constant table of its own submodules.
BUILT_FROM_A_TABLE = {"engine/__init__.py"}


def test_no_module_name_is_built_from_a_string() -> None:
    """``import_module`` gets constants or spec strings, never f"...{name}_reader"."""
    built = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(
                node.args[0], (ast.JoinedStr, ast.BinOp)
            ):
                built.append(path.relative_to(PACKAGE).as_posix())
    assert set(built) <= BUILT_FROM_A_TABLE, built


# -- one package per target -----------------------------------------------------------------------


def test_every_target_lives_in_its_own_package() -> None:
    folder = PACKAGE / "targets"
    loose = {p.name for p in folder.glob("*.py")} - SHARED_TARGET_MODULES
    assert loose == set(), "a target's module outside its package"
    found = specs()
    assert list(found) == ["local", "buddy", "browserstack", "buildkite"]
    for name, spec in found.items():
        package = f"pytest_testreport.targets.{name}"
        assert package in BUILTIN and (folder / name / "__init__.py").is_file()
        for ref in (spec.target, spec.reader, spec.cli):
            assert ref is None or ref.startswith(f"{package}."), ref
        assert spec.target_class().name == name
        reader = spec.reader_class()
        assert reader is not None and spec.can_rerun() == (name != "browserstack")


def test_the_builtins_are_registered_as_entry_points() -> None:
    text = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split(f'[project.entry-points."{ENTRY_POINT_GROUP}"]', 1)[1].split("\n[", 1)[0]
    for module in BUILTIN:
        assert f'{module.rsplit(".", 1)[1]} = "{module}:SPEC"' in section


# -- a target from another package ----------------------------------------------------------------

DUMMY_SPEC = """
from pytest_testreport.option import Option
from pytest_testreport.targets.spec import TargetSpec

SPEC = TargetSpec(
    name="dummy",
    target="dummy_target.target:DummyTarget",
    options=(Option("dummy_path", "where the dummy target writes", metavar="PATH"),),
    reader="dummy_target.target:DummyReader",
)
"""

DUMMY_TARGET = '''
import json
from pathlib import Path

from pytest_testreport.engine.target import Target
from pytest_testreport.reading import FailedTests, Reader, Unsupported


class DummyTarget(Target):
    """Appends one JSON line per result to testreport_dummy_path."""

    name = "dummy"

    def __init__(self, path):
        self.path = Path(path)

    @classmethod
    def from_settings(cls, settings):
        return cls(settings.path(settings.values["dummy_path"], Path("dummy.jsonl")))

    def _write(self, row):
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\\n")

    def open_session(self, session):
        self._write({"event": "open", "session": session.uuid})

    def send_batch(self, session, results, progress):
        for result in results:
            self._write({"event": "result", "nodeid": result.nodeid,
                         "outcome": result.outcome.value})

    def close_session(self, session):
        self._write({"event": "close", "session": session.uuid})


class DummyReader(Reader):
    """Only --testreport-failed-from: the failed node ids in the file the target wrote."""

    @classmethod
    def failed_from(cls, settings, ref):
        path = settings.path(settings.values["dummy_path"], Path("dummy.jsonl"))
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        failed = [r["nodeid"] for r in rows if r.get("outcome") == "failed"]
        return FailedTests(f"dummy: rerunning {len(failed)}", failed)

    def describe(self):
        return "dummy"

    def _no(self, *args):
        raise Unsupported("dummy reads nothing else")

    list_sessions = session = get_session = failed = flaky = slow = _no
'''


def _install_dummy(root: Path, entry_point: str = "dummy = dummy_target:SPEC") -> Path:
    """A package ``dummy_target`` with its dist-info, as pip would install it, under root."""
    site = root / "site"
    (site / "dummy_target").mkdir(parents=True)
    (site / "dummy_target" / "__init__.py").write_text(DUMMY_SPEC, encoding="utf-8")
    (site / "dummy_target" / "target.py").write_text(DUMMY_TARGET, encoding="utf-8")
    info = site / "dummy_target-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dummy-target\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_point}\n")
    return site


SUITE = """
def test_ok():
    pass

def test_bad():
    assert False
"""


@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_a_target_from_an_entry_point_gets_the_results(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, delivery: str
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(_install_dummy(pytester.path)))  # the child inherits it
    pytester.makepyfile(test_dummy=SUITE)
    out = pytester.path / "out.jsonl"
    result = pytester.runpytest_subprocess(
        "--testreport=dummy", f"--testreport-dummy-path={out}",
        f"--testreport-delivery={delivery}", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["event"] == "open" and rows[-1]["event"] == "close"
    outcomes = {r["nodeid"]: r["outcome"] for r in rows if r["event"] == "result"}
    assert outcomes == {"test_dummy.py::test_ok": "passed", "test_dummy.py::test_bad": "failed"}
    assert not (pytester.path / ".testreport" / "results.sqlite").exists()  # only dummy ran

    rerun = pytester.runpytest_subprocess(
        "--testreport-failed-from=dummy", f"--testreport-dummy-path={out}", "-v",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    rerun.assert_outcomes(failed=1)
    rerun.stdout.fnmatch_lines(["*dummy: rerunning 1*", "*test_dummy.py::test_bad FAILED*"])


def test_the_help_lists_a_target_from_an_entry_point(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(_install_dummy(pytester.path)))
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*browserstack, buildkite,*dummy*", "*--testreport-dummy-path*"])


def test_an_entry_point_that_names_no_spec_is_a_clear_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = _install_dummy(pytester.path, "dummy = dummy_target.target:DummyTarget")
    monkeypatch.setenv("PYTHONPATH", str(site))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: testreport: target entry point 'dummy' = "
                                 "'dummy_target.target:DummyTarget' must name a TargetSpec whose "
                                 "name is 'dummy'"])  # fmt: skip
    assert "Traceback" not in result.stderr.str()
    env = {**os.environ, "PYTHONPATH": str(site)}
    cli = subprocess.run([sys.executable, "-m", "pytest_testreport", "list"], env=env,
                         cwd=pytester.path, capture_output=True, text=True)  # fmt: skip
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "pytest-testreport: target entry point 'dummy'" in cli.stderr
