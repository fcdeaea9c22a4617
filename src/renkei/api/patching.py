"""PATCH bodies: a field left out stays as it is, and ``null`` is refused unless it means
"clear this" for that field.

``class EndpointPatch(PatchBody)`` with ``nullable = frozenset({"filter"})``: a body
``{"url": null}`` is a 422 naming ``url`` before any SQL runs (it used to reach the
database's NOT NULL constraint), while ``{"filter": null}`` removes the filter.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

__all__ = ["PatchBody"]


class PatchBody(BaseModel):
    nullable: ClassVar[frozenset[str]] = frozenset()
    """Fields (Python names) where ``null`` is a value: it clears the field."""

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_it_clears(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise PydanticCustomError(
                "null_not_allowed", "may not be null (leave the field out to keep its value)"
            )
        return value
