"""``renkei sources list|presets|create|show|secret|rotate|enable|disable|plan|delete``."""

from __future__ import annotations

from typing import Any

import orjson
import typer

from renkei.cli._common import CliError, console, print_rows, with_hub
from renkei.hub import Hub
from renkei.usecases import LOCAL, sources
from renkei.usecases.paging import every

__all__ = ["sources_app"]

VIA = "cli"  # in the audit entries' details, as the CLI's entries always had

sources_app = typer.Typer(
    help="Event sources: tracking write keys and inbound webhooks.", no_args_is_help=True
)


def _base_url(hub: Hub) -> str:
    settings = hub.settings
    return settings.public_url or f"http://{settings.host}:{settings.port}"


def _json_option(value: str | None, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise CliError(f"--{name} must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise CliError(f"--{name} must be a JSON object")
    return parsed


def _print(payload: Any) -> None:
    console.print(
        orjson.dumps(payload, option=orjson.OPT_INDENT_2, default=str).decode(),
        highlight=False,
        markup=False,
    )


def _run(action: Any) -> Any:
    # RenkeiError and other user errors become one line in RenkeiGroup (cli/_common.py).
    return with_hub(action)


@sources_app.command("list")
def list_command(
    kind: str | None = typer.Option(None, help="tracking or webhook"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List sources (never their secrets)."""

    async def run(hub: Hub) -> list[dict[str, Any]]:
        found = await every(
            lambda cursor, size: sources.list_sources(
                hub, LOCAL, kind=kind, limit=size, cursor=cursor
            )
        )
        return [source.to_dict(_base_url(hub)) for source in found]

    found = _run(run)
    rows = [
        [
            source["id"],
            source["kind"],
            source["name"],
            source.get("url") or (source.get("write_key_hint") or "") + "…",
            "enabled" if source["enabled"] else "disabled",
        ]
        for source in found
    ]
    print_rows(
        ["id", "kind", "name", "url or write key", "state"],
        rows,
        as_json=as_json,
        objects=found,
        empty="No sources.",
    )


@sources_app.command("create")
def create_command(
    name: str = typer.Option(..., help="A unique name."),
    kind: str = typer.Option("tracking", help="tracking or webhook"),
    description: str = typer.Option("", help="What it is for."),
    verification: str | None = typer.Option(None, help='webhook: JSON, e.g. {"scheme": "hmac"}'),
    mapping: str | None = typer.Option(None, help='webhook: JSON, e.g. {"type": "type"}'),
    plan_mode: str | None = typer.Option(
        None, help="tracking: allow, omit_properties or block (docs/tracking-plans.md)"
    ),
    preset: str | None = typer.Option(
        None, help="webhook: a vendor preset (renkei sources presets); implies --kind webhook"
    ),
    setting: list[str] = typer.Option(
        [], help="with --preset: NAME=VALUE, e.g. secret=whsec_... (repeatable)"
    ),
) -> None:
    """Create a source: prints its write key (tracking) or URL (webhook)."""
    verification_config = _json_option(verification, "verification")
    mapping_config = _json_option(mapping, "mapping")
    settings = _settings(setting)
    if preset is not None and kind == "tracking":
        kind = "webhook"

    async def run(hub: Hub) -> dict[str, Any]:
        created = await sources.create_source(
            hub,
            LOCAL,
            kind=kind,
            name=name,
            description=description,
            verification=verification_config,
            mapping=mapping_config,
            plan_mode=plan_mode,
            preset=preset,
            settings=settings,
            via=VIA,
        )
        shown = created.source.to_dict(_base_url(hub))
        if created.write_key:
            shown["write_key"] = created.write_key
        shown.update(created.generated_secrets)
        return shown

    _print(_run(run))


def _settings(pairs: list[str]) -> dict[str, str] | None:
    settings: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise CliError(f"--setting must be NAME=VALUE, got {pair.split('=')[0]!r}")
        settings[name.strip()] = value
    return settings or None


@sources_app.command("presets")
def presets_command(
    name: str | None = typer.Argument(None, help="One preset: show it whole."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The inbound presets (a vendor's webhook in one step) and what each needs."""
    if name is not None:
        _print(sources.get_preset(LOCAL, name).to_dict())
        return
    found = [preset.to_dict() for preset in sources.list_presets(LOCAL)]
    rows = [
        [
            preset["name"],
            preset["scheme"],
            ", ".join(
                setting["name"] + ("" if setting["required"] else " (optional)")
                for setting in preset["settings"]
            ),
            preset["title"],
        ]
        for preset in found
    ]
    print_rows(
        ["name", "scheme", "settings", "vendor"], rows, as_json=as_json, objects=found, empty=""
    )


@sources_app.command("show")
def show_command(source: str = typer.Argument(..., help="Id or name.")) -> None:
    """Show one source (without secrets)."""

    async def run(hub: Hub) -> dict[str, Any]:
        found = await sources.get_source(hub, LOCAL, source, by_name=True)
        return found.to_dict(_base_url(hub))

    _print(_run(run))


@sources_app.command("secret")
def secret_command(
    source: str = typer.Argument(..., help="Id or name."),
    as_json: bool = typer.Option(False, "--json", help="Print every secret as JSON."),
) -> None:
    """Print the write key or verification secret, bare like `renkei token create` (audited)."""

    async def run(hub: Hub) -> dict[str, str]:
        return await sources.reveal_secret(hub, LOCAL, source, by_name=True, via=VIA)

    revealed = _run(run)
    if as_json or len(revealed) != 1:
        _print(revealed)
    else:
        console.print(next(iter(revealed.values())), highlight=False, markup=False, soft_wrap=True)


@sources_app.command("rotate")
def rotate_command(
    source: str = typer.Argument(..., help="Id or name."),
    secret: str | None = typer.Option(None, help="A vendor-issued secret; else generated."),
) -> None:
    """Issue a new write key or verification secret; the old one stops working."""

    async def run(hub: Hub) -> dict[str, str]:
        return await sources.rotate_secret(hub, LOCAL, source, secret=secret, by_name=True, via=VIA)

    _print(_run(run))


def _set_enabled(source: str, enabled: bool) -> None:
    async def run(hub: Hub) -> dict[str, Any]:
        changed = await sources.set_enabled(hub, LOCAL, source, enabled, by_name=True, via=VIA)
        return changed.to_dict(_base_url(hub))

    _print(_run(run))


@sources_app.command("enable")
def enable_command(source: str = typer.Argument(..., help="Id or name.")) -> None:
    """Accept events from this source again."""
    _set_enabled(source, True)


@sources_app.command("disable")
def disable_command(source: str = typer.Argument(..., help="Id or name.")) -> None:
    """Refuse events from this source (403) until enabled."""
    _set_enabled(source, False)


PLAN_COMMAND_MODES = ("allow", "omit_properties", "block", "off")


@sources_app.command("plan")
def plan_command(
    source: str = typer.Argument(..., help="Id or name."),
    mode: str = typer.Argument(..., help="allow, omit_properties, block, or off"),
) -> None:
    """Check a tracking source's events against the tracking plan, or stop (off)."""
    # Checked here: the API's own message offers `null`, which this command spells `off`.
    if mode not in PLAN_COMMAND_MODES:
        raise CliError(f"mode must be one of {', '.join(PLAN_COMMAND_MODES)} (off: no plan)")

    async def run(hub: Hub) -> dict[str, Any]:
        changed = await sources.set_plan_mode(
            hub, LOCAL, source, None if mode == "off" else mode, by_name=True, via=VIA
        )
        return changed.to_dict(_base_url(hub))

    _print(_run(run))


@sources_app.command("delete")
def delete_command(source: str = typer.Argument(..., help="Id or name.")) -> None:
    """Delete a source and its stored raw requests (its events stay)."""

    async def run(hub: Hub) -> str:
        return await sources.delete_source(hub, LOCAL, source, by_name=True, via=VIA)

    console.print(f"deleted {_run(run)}", highlight=False)
