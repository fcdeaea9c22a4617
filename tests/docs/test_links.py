"""The project stands on its own in a clone anywhere: every relative link in README.md and
docs/ points at a file inside the repository that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .blocks import ROOT, pages

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _links(page: str) -> list[str]:
    text = (ROOT / page).read_text(encoding="utf-8")
    targets = [match.group(1).split("#")[0] for match in _LINK.finditer(text)]
    return [t for t in targets if t and not re.match(r"^[a-z]+:", t)]


@pytest.mark.parametrize("page", pages())
def test_relative_links_stay_in_the_repository(page: str) -> None:
    for target in _links(page):
        path = (ROOT / page).parent.joinpath(target).resolve()
        assert path.is_relative_to(ROOT), f"{page} links outside the repository: {target}"
        assert path.exists(), f"{page} links to a missing file: {target}"


def test_contributors_are_not_sent_outside_the_repository() -> None:
    for page in pages():
        text = (ROOT / page).read_text(encoding="utf-8")
        assert "shared/DESIGN.md" not in text, page
    assert (ROOT / "docs" / "design.md").exists()


def test_the_design_page_is_linked_from_the_readme() -> None:
    assert "](docs/design.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_links_are_found() -> None:
    assert "docs/ingest.md" in _links("README.md")
    assert Path("design.md").name in _links("docs/contributing.md")
