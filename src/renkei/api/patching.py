"""PATCH bodies: a field left out stays as it is, and ``null`` is refused unless it means
"clear this" for that field.

``class EndpointPatch(PatchBody)`` with ``nullable = frozenset({"filter"})``: a body
``{"url": null}`` is a 422 naming ``url`` before any SQL runs (it used to reach the
database's NOT NULL constraint), while ``{"filter": null}`` removes the filter.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, GetJsonSchemaHandler, ValidationInfo, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

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

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The OpenAPI schema says what validation does: no ``null`` where it is refused."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        properties = schema.get("properties", {})
        for name, field in cls.model_fields.items():
            prop = properties.get(field.alias or name)
            if name in cls.nullable or not isinstance(prop, dict):
                continue
            if prop.get("default", ...) is None:
                del prop["default"]
            options = prop.get("anyOf")
            if isinstance(options, list):
                kept = [option for option in options if option != {"type": "null"}]
                if len(kept) == 1:
                    del prop["anyOf"]
                    prop.update(kept[0])
                else:
                    prop["anyOf"] = kept
        return schema
