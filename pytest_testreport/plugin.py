"""pytest hooks: options, roles, the author-facing fixture. Everything else is delegated.

Loaded on every pytest start-up, reporting or not: it imports only what every run needs, and
the rest (failed-test selection, the controller, each target) where a run asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from . import hookspecs
from .api import TestReportFixture
from .config import add_options, looks_like_targets, settings_if_needed
from .runner import Runner
from .targets import BadTarget, install, make_targets

if TYPE_CHECKING:
    from .settings import Settings

WORKER_ACTIVE = "testreport_active"
WORKER_FAILED = "testreport_failed_nodeids"
WORKER_SHARD = "testreport_shard"

# Runs that only look at tests and do not run them report nothing.
_LOOK_ONLY_OPTIONS = ("collectonly", "setupplan", "setuponly", "showfixtures",
                      "show_fixtures_per_test", "markers", "help", "version")  # fmt: skip


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        install()  # the targets' specs (built-in and entry points) to config: their options
    except BadTarget as exc:  # another package's broken entry point: say which, no traceback
        raise pytest.UsageError(str(exc)) from None
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """``pytest --testreport tests/`` means the local target and the path ``tests/``.

    The flag takes an optional value, so argparse would read the path as a target list;
    a value that names no target is a path, and the flag becomes ``--testreport=local``.
    """
    for index, arg in enumerate(args[:-1]):
        if arg == "--":
            return
        if arg == "--testreport" and not looks_like_targets(args[index + 1]):
            args[index] = "--testreport=local"
        # Likewise ``--testreport-html tests/``: only a name ending in .html is the report's path.
        if arg == "--testreport-html" and not args[index + 1].endswith((".html", ".htm")):
            args[index] = "--testreport-html=true"


def _look_only(config: pytest.Config) -> bool:
    return any(config.getoption(name, default=False) for name in _LOOK_ONLY_OPTIONS)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "testreport_metadata(**pairs): metadata reported with the test"
    )
    config.addinivalue_line(
        "markers", "execution_tag(key, value): a Buildkite Test Engine execution tag"
    )
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker: run tests, report nothing
        _register_runner(config, Runner(attach=bool(workerinput.get(WORKER_ACTIVE))))
        if workerinput.get(WORKER_FAILED) is not None:
            from .selection import FailedSelection

            selection = FailedSelection(workerinput[WORKER_FAILED])
            config.pluginmanager.register(selection, "testreport-selection")
        if workerinput.get(WORKER_SHARD) is not None:
            from .shard import ShardSelection

            config.pluginmanager.register(ShardSelection(*workerinput[WORKER_SHARD]),
                                          "testreport-shard")  # fmt: skip
        return
    settings = settings_if_needed(config)
    if settings is None:  # nothing on and nothing set: record nothing, load nothing more
        _register_runner(config, Runner(attach=False))
        return
    if settings.failed_from:
        from .selection import resolve_failed

        config.pluginmanager.register(resolve_failed(settings), "testreport-selection")
    _register_history(config, settings)
    active = settings.enabled and not _look_only(config)
    if not _look_only(config) and (settings.html is not None or len(settings.targets) > 1):
        from .report.at_end import AtEnd  # the HTML report and the remote targets' delivery notes

        config.pluginmanager.register(AtEnd(config, settings), "testreport-html")
    targets = make_targets(settings) if active else []
    _register_runner(config, Runner(attach=active))
    if not active:
        return
    from .controller import Controller  # only runs that report pay for loading it

    controller = Controller(config, settings, targets)
    config.pluginmanager.register(controller, "testreport-controller")


def _register_history(config: pytest.Config, settings: Settings) -> None:
    """Sharding and quarantine, read once here (the controller, under xdist)."""
    if settings.shard is not None:
        from .shard import resolve_shard

        config.pluginmanager.register(resolve_shard(settings), "testreport-shard")
    if settings.quarantine and not _look_only(config):
        from .quarantine import PLUGIN_NAME, load_quarantine

        config.pluginmanager.register(load_quarantine(settings), PLUGIN_NAME)


def _register_runner(config: pytest.Config, runner: Runner) -> None:
    config.pluginmanager.register(runner, "testreport-runner")
    if runner.details is not None:  # fixture and log hooks only for runs that report
        config.pluginmanager.register(runner.details, "testreport-details")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: tell each worker whether to record and which tests to select."""
    config = node.config
    node.workerinput[WORKER_ACTIVE] = config.pluginmanager.has_plugin("testreport-controller")
    selection = config.pluginmanager.get_plugin("testreport-selection")
    if selection is not None:
        node.workerinput[WORKER_FAILED] = selection.nodeids
    shard = config.pluginmanager.get_plugin("testreport-shard")
    if shard is not None:  # each worker plans from the controller's durations
        node.workerinput[WORKER_SHARD] = (shard.index, shard.count, shard.durations)


@pytest.fixture
def testreport() -> TestReportFixture:
    """Steps and metadata of the running test: ``testreport.step(...)``, ``.metadata(...)``."""
    return TestReportFixture()
