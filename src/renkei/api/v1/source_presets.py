"""``/api/v1/source-presets``: the inbound presets, and what each needs from the user.

A source is made from one with ``POST /api/v1/sources {"kind": "webhook", "preset": NAME,
"settings": {...}}`` (docs/presets.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.security.tokens import Principal
from renkei.usecases import sources

router = APIRouter(prefix="/api/v1/source-presets", tags=["sources"])
Reader = Annotated[Principal, Depends(require("read"))]


class SettingOut(BaseModel):
    name: str
    description: str
    required: bool
    secret: bool = Field(description="stored encrypted, never shown again")


class PresetEventTypeOut(BaseModel):
    name: str
    description: str
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")


class PresetOut(BaseModel):
    name: str
    title: str
    summary: str
    scheme: str = Field(description="the verification scheme it sets")
    settings: list[SettingOut] = Field(description="what the user gives in settings")
    verification: dict[str, Any] = Field(description="the scheme's fixed options")
    mapping: dict[str, Any]
    event_types: list[PresetEventTypeOut]
    handshake: str | None = Field(description="how the vendor validates the URL, if it does")
    body_template: str | None = Field(description="the request body to set at the vendor")
    setup: str = Field(description="what to do at the vendor ({url}: the source's URL)")
    docs: list[str]


class PresetList(BaseModel):
    data: list[PresetOut]
    next_cursor: None = None


@router.get("", response_model_by_alias=True)
async def list_presets(principal: Reader) -> PresetList:
    """Every preset by name: its scheme, settings, mapping, event types and handshake."""
    return PresetList(
        data=[
            PresetOut.model_validate(preset.to_dict()) for preset in sources.list_presets(principal)
        ]
    )


@router.get("/{name}", response_model_by_alias=True)
async def get_preset(name: str, principal: Reader) -> PresetOut:
    return PresetOut.model_validate(sources.get_preset(principal, name).to_dict())
