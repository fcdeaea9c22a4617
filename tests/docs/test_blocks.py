"""How the docs tests read a page: which fences are shell blocks, and the skip marker."""

from __future__ import annotations

import pytest

from .blocks import MarkerError, parse, starts_server, with_ports

PAGE = """\
# A page

```bash
curl -fsS localhost:8787/readyz
```

<!-- doctest: skip (needs a Braze account) -->
```sh
renkei connections test braze
```

```yaml
not: shell
```

```python
print("not shell either")
```
"""


def test_shell_blocks_and_their_skip_reasons() -> None:
    blocks = parse("page.md", PAGE)
    assert [(b.line, b.language, b.skip) for b in blocks] == [
        (3, "bash", None),
        (8, "sh", "needs a Braze account"),
    ]
    assert blocks[0].text == "curl -fsS localhost:8787/readyz\n"
    assert blocks[1].where == "page.md:8"


@pytest.mark.parametrize(
    "marker", ["<!-- doctest: skip -->", "<!-- doctest: skip () -->", "<!-- doctest: skipp (x) -->"]
)
def test_a_marker_without_a_reason_is_an_error(marker: str) -> None:
    with pytest.raises(MarkerError):
        parse("page.md", f"{marker}\n```bash\ntrue\n```\n")


def test_ports_are_replaced_only_where_they_are_ports() -> None:
    ports = {"8787": 50001, "9002": 50002}
    text = (
        "renkei sandbox hubspot --port 9002 &\n"
        'curl localhost:8787/x -d \'{"base_url": "http://127.0.0.1:9002", '
        '"token": "pat-na1-0000-4000-8787-9002"}\'\n'
    )
    assert with_ports(text, ports) == (
        "renkei sandbox hubspot --port 50002 &\n"
        'curl localhost:50001/x -d \'{"base_url": "http://127.0.0.1:50002", '
        '"token": "pat-na1-0000-4000-8787-9002"}\'\n'
    )


def test_which_blocks_start_a_server() -> None:
    def started(text: str) -> bool:
        return starts_server(parse("p.md", f"```bash\n{text}\n```\n"))

    assert started("scripts/serve &   # comment")
    assert started("renkei serve --port 8787 &")
    assert started(".venv/bin/renkei serve &")
    assert not started("renkei serve --help")
    assert not started("curl localhost:8787/readyz &")
