"""The runnable examples of docs/connectors/*.md run, against the sandboxes, as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "connectors"
EXPECTED = {
    "braze.md": "{'used_learn': True} 1",
    "mailchimp.md": "['form:demo-request']",
    "klaviyo.md": "1 ['Abandoned Cart']",
    "slack.md": "[('#sales', 'Hot lead dana@example.com (score 87)')]",
    "http.md": "201 200",
    "ga4.md": "[('purchase', 'u-1')]",
    "amplitude.md": "1 {'plan': 'pro', 'orders': 1}",
    "onesignal.md": "{'cart': 'open'} 1",
}


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_the_runnable_example_runs(page: str, capsys: pytest.CaptureFixture[str]) -> None:
    (example,) = python_blocks(page)
    exec(compile(example, str(DOCS / page), "exec"), {"__name__": "__example__"})
    assert EXPECTED[page] in capsys.readouterr().out
