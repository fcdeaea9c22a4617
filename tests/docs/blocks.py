"""The shell blocks of README.md and docs/, as the docs tests run them.

A fenced block is a shell block when its language is ``bash``, ``sh`` or ``shell``. A block
that cannot run on a developer's machine (it needs a vendor account, or it runs forever) is
tagged on the line just before its fence, with the reason in parentheses::

    <!-- doctest: skip (needs a HubSpot account) -->
    ```bash
    ...

Everything else runs, as written, with two changes made in one documented way: the fixed
ports the docs use (8787 for Renkei, 9001-9009 for the sandboxes, 8000 for a receiver) become
free ports, and ``RENKEI_PORT`` is set to Renkei's, so ``renkei serve`` without ``--port``
listens where the blocks' ``localhost:8787`` now points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELLS = ("bash", "sh", "shell")
RENKEI_PORT = "8787"

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!--\s*doctest:\s*(.*?)\s*-->\s*$")
_SKIP = re.compile(r"^skip\s*\((.+)\)$")
# A documented port: after "host:" or "--port ", so ids and other digits never match.
_PORT = re.compile(r"(?:(?<=:)|(?<=--port ))(8787|900\d|8000)\b")
# A block that starts its own server: `renkei serve ... &` or `scripts/serve ... &`.
_STARTS_SERVER = re.compile(r"^\s*(?:\S*/)?(?:renkei serve|scripts/serve)\b[^\n#]*&", re.M)


class MarkerError(ValueError):
    """A ``<!-- doctest: ... -->`` comment this module does not understand."""


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    skip: str | None  # the reason, when tagged

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[str]:
    """README.md and every page under docs/, relative to the root."""
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [str(path.relative_to(ROOT)) for path in found]


def shell_blocks(page: str) -> list[Block]:
    return parse(page, (ROOT / page).read_text(encoding="utf-8"))


def parse(page: str, markdown: str) -> list[Block]:
    lines = markdown.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        language = opening.group(1)
        if language in SHELLS:
            text = "\n".join(lines[index + 1 : end]) + "\n"
            skip = _skip_reason(lines[index - 1] if index else "", f"{page}:{index + 1}")
            blocks.append(Block(page, index + 1, language, text, skip))
        index = end + 1
    return blocks


def _skip_reason(previous: str, where: str) -> str | None:
    marker = _MARKER.match(previous.strip())
    if not marker:
        return None
    skip = _SKIP.match(marker.group(1))
    if not skip or not skip.group(1).strip():
        raise MarkerError(f"{where}: write <!-- doctest: skip (why) -->, not {previous.strip()!r}")
    return skip.group(1).strip()


def runnable(page: str) -> list[Block]:
    return [block for block in shell_blocks(page) if block.skip is None]


def starts_server(blocks: list[Block]) -> bool:
    return any(_STARTS_SERVER.search(block.text) for block in blocks)


def with_ports(text: str, ports: dict[str, int]) -> str:
    return _PORT.sub(lambda match: str(ports[match.group(1)]), text)


def documented_ports(blocks: list[Block]) -> set[str]:
    found = {RENKEI_PORT}
    for block in blocks:
        found.update(_PORT.findall(block.text))
    return found
