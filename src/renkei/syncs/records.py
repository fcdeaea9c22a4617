"""Records between shapes: a profile as a mapping source, a mapped record as JSON."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from renkei.events.profiles import Profile
from renkei.expr.mapping import FieldMapping, compile_mapping

__all__ = ["jsonable", "mapping_of", "profile_document", "profile_email"]


def mapping_of(config: dict[str, Any], key: str = "mapping") -> FieldMapping | None:
    spec = config.get(key)
    if spec is None:
        return None
    return compile_mapping(spec, block=[str(name) for name in config.get("block") or []])


def profile_email(profile: Profile) -> str | None:
    emails = profile.values("email")
    return emails[-1] if emails else None


def profile_document(profile: Profile) -> dict[str, Any]:
    """What a push mapping reads: ``traits.*`` (plain values), ``email``, ``user_id``."""
    traits = {name: entry.get("value") for name, entry in profile.traits.items()}
    user_ids = profile.values("user_id")
    return {
        "profile_id": profile.id,
        "email": profile_email(profile) or traits.get("email"),
        "user_id": user_ids[-1] if user_ids else None,
        "traits": traits,
    }


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
