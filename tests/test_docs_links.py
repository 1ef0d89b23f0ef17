"""Every relative link of the README and the docs leads somewhere: a file, and its heading.

Links to other sites are not followed (the suite runs offline). A link with an anchor
(``file.md#section`` or ``#section``) must name a heading of that file, as GitHub makes
anchors of headings.
"""

from __future__ import annotations

from pathlib import Path
import re

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "firmware" / "README.md",
]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text without its fenced code blocks (``#include`` is no heading)."""
    return FENCE.sub("", text)


def anchors(text: str) -> set[str]:
    """Return the anchors GitHub makes of a Markdown file's headings."""
    found: set[str] = set()
    for heading in HEADING.findall(_prose(text)):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
        slug = re.sub(r"[^\w\- ]", "", plain.replace("`", "").lower()).replace(" ", "-")
        candidate, number = slug, 0
        while candidate in found:
            number += 1
            candidate = f"{slug}-{number}"
        found.add(candidate)
    return found


def _links(page: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(_prose(page.read_text()))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # https:, mailto:...
    ]


def test_the_slugs_are_githubs() -> None:
    assert anchors("## 5.9 The radio state the host owns") == {
        "59-the-radio-state-the-host-owns"
    }
    assert anchors("## `espnow_gateway.send`\n## A\n## A") == {
        "espnow_gatewaysend",
        "a",
        "a-1",
    }
    assert anchors('## "Unknown item" in the port selector') == {
        "unknown-item-in-the-port-selector"
    }
    assert anchors("```sh\n# not a heading\n```\n# Title") == {"title"}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    links = _links(page)
    broken: list[str] = []
    for link in links:
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        relative = (
            target.relative_to(REPO).as_posix()
            if target.is_relative_to(REPO)
            else str(target)
        )
        if not target.exists():
            broken.append(f"{link}: no {relative}")
            continue
        if (
            anchor
            and target.suffix == ".md"
            and anchor not in anchors(target.read_text())
        ):
            broken.append(f"{link}: no heading #{anchor} in {relative}")
    assert not broken, "\n".join(broken)


def test_the_pages_have_links() -> None:
    """The link pattern finds the links (a pattern that found none would pass all)."""
    assert "docs/entities.md" in _links(REPO / "README.md")
    assert "#the-gateway" in _links(REPO / "docs" / "installation.md")
    assert "../firmware/README.md" in _links(REPO / "docs" / "installation.md")


def test_every_screenshot_is_used() -> None:
    """Every image in docs/images (the browser test takes them) is shown by a page."""
    linked = {
        ((page.parent / link.partition("#")[0]).resolve()).relative_to(REPO).as_posix()
        for page in PAGES
        for link in _links(page)
        if link.endswith(".png")
    }
    images = {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "docs" / "images").glob("*.png")
    }
    assert images, "no screenshots"
    assert images <= linked, images - linked
