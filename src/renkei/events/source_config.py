"""The ``sources`` section of a configuration file (``renkei plan|apply|export``).

```yaml
sources:
  - name: app
    kind: tracking                     # the write key is issued on apply: renkei sources secret app
    plan_mode: block                   # tracking plan: allow | omit_properties | block
  - name: stripe
    kind: webhook
    verification: {scheme: stripe, secret: "${env:STRIPE_WEBHOOK_SECRET}"}
    mapping: {type: type, type_prefix: "stripe.", id: id, occurred_at: created}
  - name: newsletter
    preset: mailchimp                  # a vendor preset (docs/presets.md): kind webhook,
    settings: {secret: "${env:MAILCHIMP_HOOK_KEY}"}   # its verification and mapping
```

A ``preset`` is expanded into ``verification`` and ``mapping`` (a ``mapping`` written next
to it replaces the preset's); its event types are declared in ``event_types`` if wanted.

Secrets are written in the file as ``${env:...}`` references and never exported; a
changed secret alone does not show as a change (rotate it with
``POST /api/v1/sources/{id}/secret/rotate``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.config.loader import ConfigError, refuse_unknown_fields
from renkei.events.plan import InvalidPlan, check_plan_mode
from renkei.events.preset_catalog import PRESETS
from renkei.events.presets import InvalidPreset, configure
from renkei.events.sources import (
    DEFAULT_MAPPING,
    DEFAULT_VERIFICATION,
    PLAN_OFF,
    SECRET_FIELDS,
    SourceChanges,
    SourceError,
    _prepare_mapping,
    _prepare_verification,
    create_source,
    list_sources,
    update_source,
)
from renkei.store.tables.ingest import SOURCE_KINDS

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.events.ingest import IngestService

__all__ = ["SourcesResource"]

_FIELDS = frozenset(
    {
        "name",
        "kind",
        "description",
        "enabled",
        "verification",
        "mapping",
        "plan_mode",
        "preset",
        "settings",
    }
)


def _expanded(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with its preset (if any) turned into kind, verification and mapping."""
    if "preset" not in spec and "settings" not in spec:
        return spec
    name = spec["name"]
    preset = spec.get("preset")
    if not isinstance(preset, str):
        raise ConfigError(f"sources.{name}: settings go with a preset (a preset name)")
    if spec.get("kind", "webhook") != "webhook":
        raise ConfigError(f"sources.{name}: a preset makes a webhook source")
    if spec.get("verification") is not None:
        raise ConfigError(f"sources.{name}: a preset sets the verification; give its settings")
    settings = spec.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"sources.{name}: settings must be a mapping")
    try:
        _, verification, mapping = configure(PRESETS, preset, settings)
    except InvalidPreset as exc:
        raise ConfigError(f"sources.{name}: {exc.message}") from exc
    expanded = {key: value for key, value in spec.items() if key not in ("preset", "settings")}
    return {
        **expanded,
        "kind": "webhook",
        "verification": verification,
        "mapping": spec.get("mapping") or mapping,
    }


class SourcesResource:
    section = "sources"

    def __init__(self, ingest: IngestService) -> None:
        self.ingest = ingest  # a changed source is looked up afresh by the next request

    async def export(self, hub: Core) -> dict[str, dict[str, Any]]:
        async with hub.database.read() as connection:
            return {source.name: source.spec() for source in await list_sources(connection)}

    async def validate(
        self,
        hub: Core,
        spec: dict[str, Any],
        current: dict[str, Any] | None,
        config: dict[str, list[dict[str, Any]]],
    ) -> None:
        name = spec["name"]
        refuse_unknown_fields("sources", spec, _FIELDS)
        spec = _expanded(spec)
        kind = spec.get("kind", "tracking")
        if kind not in SOURCE_KINDS:
            raise ConfigError(f"sources.{name}: kind must be one of {', '.join(SOURCE_KINDS)}")
        if current is not None and current["kind"] != kind:
            raise ConfigError(
                f"sources.{name}: kind cannot change ({current['kind']} → {kind}); "
                "delete the source first"
            )
        if not isinstance(spec.get("description", ""), str):
            raise ConfigError(f"sources.{name}: description must be a string")
        if not isinstance(spec.get("enabled", True), bool):
            raise ConfigError(f"sources.{name}: enabled must be true or false")
        if spec.get("plan_mode") is not None:
            if kind != "tracking":
                raise ConfigError(f"sources.{name}: plan_mode applies to tracking sources only")
            try:
                check_plan_mode(spec["plan_mode"])
            except InvalidPlan as exc:
                raise ConfigError(f"sources.{name}: {exc.message}") from exc
        if kind != "webhook":
            return
        verification = spec.get("verification") or DEFAULT_VERIFICATION
        try:
            _prepare_mapping(spec.get("mapping") or DEFAULT_MAPPING)
            same_scheme = (
                current is not None
                and isinstance(verification, dict)
                and (current.get("verification") or {}).get("scheme") == verification.get("scheme")
            )
            # An unchanged scheme keeps its stored secret, which the plan does not read.
            if not same_scheme:
                _prepare_verification(verification, None)
        except SourceError as exc:
            raise ConfigError(f"sources.{name}: {exc.message}") from exc

    def comparable(self, spec: dict[str, Any]) -> dict[str, Any]:
        spec = _expanded(spec)
        kind = spec.get("kind", "tracking")
        wanted: dict[str, Any] = {
            "name": spec["name"],
            "kind": kind,
            "description": spec.get("description", ""),
            "enabled": spec.get("enabled", True),
        }
        if kind == "webhook":
            verification = spec.get("verification") or DEFAULT_VERIFICATION
            wanted["verification"] = {
                key: value for key, value in verification.items() if key not in SECRET_FIELDS
            }
            wanted["mapping"] = spec.get("mapping") or DEFAULT_MAPPING
        elif spec.get("plan_mode") is not None:
            wanted["plan_mode"] = spec["plan_mode"]
        return wanted

    async def apply(self, hub: Core, spec: dict[str, Any], current: dict[str, Any] | None) -> str:
        name = spec["name"]
        await self.validate(hub, spec, current, {})
        spec = _expanded(spec)
        kind = spec.get("kind", "tracking")
        try:
            async with hub.database.transaction() as tx:
                if current is None:
                    created = await create_source(
                        tx,
                        hub.keyring,
                        kind=kind,
                        name=name,
                        description=spec.get("description", ""),
                        enabled=spec.get("enabled", True),
                        verification=spec.get("verification"),
                        mapping=spec.get("mapping"),
                        plan_mode=spec.get("plan_mode"),
                        now=hub.clock.now(),
                    )
                    source = created.source
                    action = "source.created"
                else:
                    if current["kind"] != kind:
                        raise ConfigError(
                            f"sources.{name}: kind cannot change ({current['kind']} → {kind}); "
                            "delete the source first"
                        )
                    stored = await list_sources(tx)
                    source_id = next(item.id for item in stored if item.name == name)
                    changes = SourceChanges(
                        description=spec.get("description", ""),
                        enabled=spec.get("enabled", True),
                    )
                    if kind == "webhook":
                        changes.verification = spec.get("verification") or DEFAULT_VERIFICATION
                        changes.mapping = spec.get("mapping") or DEFAULT_MAPPING
                    else:
                        changes.plan_mode = spec.get("plan_mode") or PLAN_OFF
                    source = await update_source(
                        tx, hub.keyring, source_id, changes, now=hub.clock.now()
                    )
                    action = "source.updated"
                await hub.audit(
                    tx,
                    None,
                    action,
                    target_type="source",
                    target_id=source.id,
                    details={"name": name, "via": "apply"},
                )
        except SourceError as exc:
            raise ConfigError(f"sources.{name}: {exc.message}") from exc
        self.ingest.invalidate()
        return source.id
