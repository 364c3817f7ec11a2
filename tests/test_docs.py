"""The documentation cannot drift: the options table is the declarations' own, and the README's
links lead somewhere. (The docs site's own links are checked by ``mkdocs build --strict``,
``tox -e docs``.)"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def load_generator() -> ModuleType:
    """docs/gen_options.py, a script rather than a package module."""
    spec = importlib.util.spec_from_file_location("gen_options", ROOT / "docs" / "gen_options.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_options_table_is_the_one_the_declarations_give() -> None:
    gen = load_generator()
    page = gen.PAGE.read_text(encoding="utf-8")
    stale = "docs/options.md is out of date: run python docs/gen_options.py"
    assert gen.render(page) == page, stale


def test_every_option_has_a_row_with_all_its_spellings() -> None:
    from pytest_testreport.config import all_options

    table = load_generator().table()
    for option in all_options():
        row = next((line for line in table.splitlines() if f"| `{option.ini}` |" in line), None)
        assert row is not None, option.name
        assert f"`{option.env}`" in row
        assert (option.flag in row) != option.secret  # a secret has no flag


def test_a_drifted_table_is_noticed() -> None:
    gen = load_generator()
    page = gen.PAGE.read_text(encoding="utf-8")
    drifted = page.replace("| `testreport_strict` |", "| `testreport_strikt` |")
    assert drifted != page
    assert gen.render(drifted) == page


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        load_generator().render("# Options\n")


def slugs(markdown: Path) -> set[str]:
    """The anchors of a page's headings, as GitHub and MkDocs spell them."""
    found = set()
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if re.match(r"^#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_the_readme_links_lead_to_files_and_headings_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    checked = 0
    for target in LINK.findall(readme):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        file = ROOT / path if path else ROOT / "README.md"
        assert file.exists(), target
        if anchor:
            assert anchor in slugs(file), target
        checked += 1
    assert checked > 10  # the links were found at all
