"""Endpoint fields checked before the database sees them: a name wider than its column was
kept by SQLite and refused by PostgreSQL with a 500 (the API's model caught it; the CLI
and the dashboard, which go through the use cases, did not)."""

from __future__ import annotations

import pytest

from renkei.delivery.endpoints import MAX_NAME, validate_fields
from renkei.errors import Invalid


def test_a_name_longer_than_its_column_is_refused_with_a_422() -> None:
    with pytest.raises(Invalid, match=f"at most {MAX_NAME}") as refused:
        validate_fields({"name": "x" * (MAX_NAME + 1)}, https_only=False)
    assert refused.value.status == 422
    assert refused.value.details == {"path": "name"}


def test_a_name_as_wide_as_its_column_is_kept() -> None:
    assert validate_fields({"name": "x" * MAX_NAME}, https_only=False)["name"] == "x" * MAX_NAME
