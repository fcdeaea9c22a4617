from __future__ import annotations

import pytest

from renkei.config import ConfigError, load_config

SECTIONS = ["event_types", "endpoints", "connections"]


def test_env_references_are_resolved() -> None:
    text = """
connections:
  - name: braze
    credentials: {api_key: "${env:BRAZE_KEY}", region: "${env:REGION:-iad-01}"}
"""
    config = load_config(text, known_sections=SECTIONS, environ={"BRAZE_KEY": "k-123"})
    assert config["connections"][0]["credentials"] == {"api_key": "k-123", "region": "iad-01"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("endpoints: [", "not valid YAML"),
        ("- a\n- b", "top level must be a mapping"),
        ("webhooks: []", "unknown section(s) webhooks"),
        ("endpoints: {name: x}", "endpoints: must be a list of mappings"),
        ("endpoints: [{url: x}]", "endpoints[0]: every item needs a name"),
        ("endpoints: [{name: a}, {name: a}]", "duplicate names a"),
        ('connections: [{name: c, key: "${env:MISSING}"}]', "MISSING is not set"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        load_config(text, known_sections=SECTIONS, environ={})
