"""The runnable examples of docs/connectors/{google_ads,meta_capi,linkedin_capi}.md run,
against the sandboxes, as written, and print what the pages say they print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "connectors"
EXPECTED = {
    "google_ads.md": (
        "[True, False] conversionUploadError.UNPARSEABLE_GCLID",
        "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69",
    ),
    "meta_capi.md": ("[True, False, True] 100/2804004", "['o-1', 'o-3']"),
    "linkedin_capi.md": ("[True, False] 404", "SHA256_EMAIL"),
}


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_the_runnable_example_runs(page: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = (DOCS / page).read_text()
    (example,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    exec(compile(example, str(DOCS / page), "exec"), {"__name__": "__example__"})
    out = capsys.readouterr().out
    for expected in EXPECTED[page]:
        assert expected in out
        assert expected in text  # the page says what it prints
