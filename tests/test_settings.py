"""``Settings``, the typed pydantic model of every option (settings.py), and what it costs.

Precedence and the start-up error texts are pinned by test_config.py; here: the typed fields,
the targets' option models, pickling to the delivery process, immutability, the check that
fields and options agree, and that a run with reporting off never imports pydantic.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Optional

import pytest
from pydantic import ValidationError

from pytest_testreport.config import CORE_OPTIONS, settings_from_env
from pytest_testreport.history_options import HISTORY_OPTIONS
from pytest_testreport.option import Option
from pytest_testreport.settings import Settings, check_fields, target_model
from pytest_testreport.targets import install, specs


@pytest.fixture(autouse=True)
def _targets() -> None:
    install()


def test_core_options_are_typed_attributes(tmp_path: Path) -> None:
    env = {"TESTREPORT_FLUSH_TIMEOUT": "7", "TESTREPORT_SHARD": "2/3", "TESTREPORT_STRICT": "yes",
           "TESTREPORT_LOCAL_PATH": "store/x.sqlite", "TESTREPORT_CAPTURE": "all"}  # fmt: skip
    settings = settings_from_env(env, tmp_path)
    assert (settings.flush_timeout, settings.shard, settings.strict) == (7.0, (2, 3), True)
    assert settings.capture == "all" and settings.delivery == "process"
    assert settings.local_path == tmp_path / "store" / "x.sqlite"  # from the rootdir
    assert settings_from_env({}, tmp_path).local_path == tmp_path / ".testreport/results.sqlite"
    assert settings.values["flush_timeout"] == 7.0  # the read-only view targets may still use


def test_each_target_has_a_typed_options_model(tmp_path: Path) -> None:
    env = {"BUDDY_UT_TOKEN": "bud_ut_us_s3cr3t-value", "TESTREPORT_BUDDY_CLOSE": "true",
           "TESTREPORT_BROWSERSTACK_HOOK_THRESHOLD": "2.5"}  # fmt: skip
    settings = settings_from_env(env, tmp_path)
    buddy = settings.options_of(specs()["buddy"])
    assert type(buddy).__name__ == "BuddyOptions"
    assert (buddy.buddy_ut_token, buddy.buddy_close, buddy.buddy_verify) == (
        "bud_ut_us_s3cr3t-value", True, True)  # fmt: skip
    assert "s3cr3t" not in repr(buddy) and "s3cr3t" not in repr(settings)  # secrets: no repr
    browserstack = settings.options_of(specs()["browserstack"])
    assert browserstack.browserstack_hook_threshold == 2.5
    fields = target_model(specs()["browserstack"]).model_fields
    assert fields["browserstack_hook_threshold"].annotation is float  # the parser's return type
    assert fields["browserstack_build_id"].annotation == Optional[str]  # no default: optional


def test_settings_pickle_and_are_frozen(tmp_path: Path) -> None:
    settings = settings_from_env({"TESTREPORT_BRANCH": "main", "BUDDY_UT_TOKEN": "tok3n"},
                                 tmp_path)  # fmt: skip
    settings.ci()  # detected once, and handed to the delivery process with the rest
    copy = pickle.loads(pickle.dumps(settings))
    assert copy == settings and copy.ci().branch == "main"
    assert copy.options_of(specs()["buddy"]).buddy_ut_token == "tok3n"
    with pytest.raises(ValidationError, match="frozen"):
        settings.flush_timeout = 1.0  # type: ignore[misc]


def test_a_field_that_does_not_match_its_option_is_refused() -> None:
    declared = CORE_OPTIONS + HISTORY_OPTIONS
    check_fields(declared)  # as shipped: no error
    with pytest.raises(RuntimeError, match=r"no field for \['brand_new'\]"):
        check_fields((*declared, Option("brand_new", "a new option")))
    changed = tuple(Option(o.name, o.help, o.parse, 99.0) if o.name == "flush_timeout" else o
                    for o in declared)  # fmt: skip
    with pytest.raises(RuntimeError, match=r"Settings\.flush_timeout defaults to 30\.0"):
        check_fields(changed)


def test_a_wrong_type_is_an_error_not_a_silent_value(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="capture"):
        Settings(rootdir=tmp_path, capture="sometimes")  # type: ignore[arg-type]


CHECK = """
import json, sys

def test_loaded():
    print("PYDANTIC=" + json.dumps("pydantic" in sys.modules))
"""


@pytest.mark.parametrize(("args", "loaded"), [([], False), (["--testreport"], True)])
def test_pydantic_is_loaded_only_when_settings_are_used(
    pytester: pytest.Pytester, args: list[str], loaded: bool
) -> None:
    pytester.makepyfile(test_loaded=CHECK)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)
    line = next(line for line in result.outlines if "PYDANTIC=" in line)
    assert json.loads(line.split("PYDANTIC=", 1)[1]) is loaded
