"""What actions do to the world: live (send, store) or in a preview (record, send nothing).

Both implement the same methods, so a preview walks exactly the code a run does and can
show the exact HTTP requests a run would make.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from renkei.delivery.deliver import build_request
from renkei.delivery.fanout import deliver_to, find_endpoint
from renkei.events.envelope import Event
from renkei.events.log import record_events, store_events
from renkei.events.profiles import ProfileResolver, normalize_identity
from renkei.flows.http import HttpRequest, HttpResponse, HttpSender
from renkei.flows.secrets import reveal

if TYPE_CHECKING:
    from renkei.connectors.service import ConnectorService
    from renkei.core import Core
    from renkei.delivery.service import Webhooks

__all__ = ["Effects", "LiveEffects", "PreviewEffects", "StepFailed"]


class StepFailed(Exception):
    """An action failed; ``retry`` says whether trying again can help."""

    def __init__(
        self, message: str, *, retry: bool, retry_at: datetime | None = None, output: Any = None
    ) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_at = retry_at
        self.output = output


class Effects(Protocol):
    dry_run: bool

    async def http(self, step_id: str, request: HttpRequest) -> HttpResponse: ...

    async def endpoint(self, step_id: str, ref: str, event: Event) -> dict[str, Any]: ...

    async def connector(
        self, step_id: str, connection: str, operation: str, payload: Any, key: str
    ) -> dict[str, Any]: ...

    async def profile(
        self,
        keys: list[tuple[str, str]],
        traits: dict[str, Any],
        tags: dict[str, list[str]],
        increments: dict[str, int | float] | None = None,
    ) -> dict[str, Any]: ...

    async def publish(self, event: Event) -> dict[str, Any]: ...

    async def secrets(self, step_id: str, names: list[str]) -> dict[str, str]: ...


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def _tagged(current: Any, tags: dict[str, list[str]]) -> list[str]:
    existing = [str(t) for t in current] if isinstance(current, list) else []
    removed = set(tags.get("remove", []))
    result = [t for t in existing if t not in removed]
    for tag in tags.get("add", []):
        if tag not in result and tag not in removed:
            result.append(tag)
    return result


class LiveEffects:
    dry_run = False

    def __init__(
        self, hub: Core, sender: HttpSender, webhooks: Webhooks, connectors: ConnectorService
    ) -> None:
        self.hub = hub
        self.sender = sender
        self.webhooks = webhooks
        self.connectors = connectors

    async def http(self, step_id: str, request: HttpRequest) -> HttpResponse:
        return await self.sender.send(request)

    async def endpoint(self, step_id: str, ref: str, event: Event) -> dict[str, Any]:
        """One delivery of a new event to this one endpoint, sent by the webhooks worker.

        The event is stored (so the delivery, its attempts and resends work as for any
        delivery) but not fanned out: it was meant for this endpoint only. The delivery
        package creates the delivery, so a FIFO endpoint's goes through its lane and a
        paused endpoint's is held.
        """
        hub = self.hub
        async with hub.database.transaction() as tx:
            endpoint = await find_endpoint(tx, ref)
            if endpoint is None:
                raise StepFailed(f"endpoint {ref!r} does not exist", retry=False)
            await store_events(hub.database, tx, [event])
            try:
                created, delivery_id = await deliver_to(self.webhooks, tx, event, endpoint.id)
            except LookupError as exc:
                raise StepFailed(str(exc), retry=False) from exc
        output = {"event_id": event.id, "delivery_id": delivery_id, "endpoint_id": endpoint.id}
        return output if created is None else {**output, "status": created.status}

    async def connector(
        self, step_id: str, connection: str, operation: str, payload: Any, key: str
    ) -> dict[str, Any]:
        try:
            result = await self.connectors.submit(
                connection=connection, operation=operation, input=payload, key=key
            )
        except LookupError as exc:
            raise StepFailed(str(exc), retry=False) from exc
        except ValueError as exc:
            raise StepFailed(str(exc), retry=False) from exc
        return result if isinstance(result, dict) else {"submission_id": result}

    async def profile(
        self,
        keys: list[tuple[str, str]],
        traits: dict[str, Any],
        tags: dict[str, list[str]],
        increments: dict[str, int | float] | None = None,
    ) -> dict[str, Any]:
        """Merge traits, tags and increments into the person's profile in one transaction.

        The profile's row is read under a lock (``FOR UPDATE``, or a single writer's lock),
        so an increment adds to the value as it is at that moment and two concurrent
        increments both count."""
        if not keys:
            raise StepFailed(
                "the event names no user (user_id, email or anonymous_id)", retry=False
            )
        hub = self.hub
        now = hub.clock.now()
        async with hub.database.transaction() as tx:
            resolver = ProfileResolver(tx, now=now)
            profile_id = await resolver.resolve(
                [normalize_identity(kind, value) for kind, value in keys]
            )
            assert profile_id is not None
            current = await resolver.current_traits(profile_id)
            updates = dict(traits)
            if tags.get("add") or tags.get("remove"):
                tagged = current.get("tags", {})
                value = tagged.get("value") if isinstance(tagged, dict) else tagged
                updates["tags"] = _tagged(value, tags)
            for name, amount in (increments or {}).items():
                stored = current.get(name)
                base: Any = stored.get("value") if isinstance(stored, dict) else None
                if isinstance(base, str):
                    base = _number(base)
                if not isinstance(base, int | float) or isinstance(base, bool):
                    base = 0
                updates[name] = base + amount
            if updates:
                await resolver.merge_traits(profile_id, updates, at=now, force=True)
            await resolver.flush()
        return {"profile_id": profile_id, "updated": updates}

    async def publish(self, event: Event) -> dict[str, Any]:
        async with self.hub.database.transaction() as tx:
            fresh = await record_events(self.hub, tx, [event])
        return {"event_id": event.id, "published": bool(fresh)}

    async def secrets(self, step_id: str, names: list[str]) -> dict[str, str]:
        async with self.hub.database.read() as connection:
            found = await reveal(connection, self.hub.keyring, names)
        missing = [name for name in names if name not in found]
        if missing:
            raise StepFailed(
                f"{step_id}: no secret named {', '.join(missing)} (create it with "
                "POST /api/v1/secrets or a secrets: section)",
                retry=False,
            )
        return found


@dataclass
class PreviewEffects:
    """Sends nothing; remembers every request a run would have made."""

    hub: Core
    webhooks: Webhooks
    connectors: ConnectorService
    responses: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = True

    async def http(self, step_id: str, request: HttpRequest) -> HttpResponse:
        self.requests.append({"step": step_id, **request.describe()})
        canned = self.responses.get(step_id)
        if isinstance(canned, dict):
            return HttpResponse(
                int(canned.get("status", 200)), dict(canned.get("headers", {})), canned.get("body")
            )
        return HttpResponse(200, {}, None, error="not sent: preview")

    async def endpoint(self, step_id: str, ref: str, event: Event) -> dict[str, Any]:
        async with self.hub.database.read() as connection:
            endpoint = await find_endpoint(connection, ref)
            if endpoint is None:
                raise StepFailed(f"endpoint {ref!r} does not exist", retry=False)
            snapshot = await self.webhooks.catalog.get(connection)
        target = snapshot.targets.get(endpoint.id)
        if target is not None:
            body, headers = build_request(
                target, event.id, event.type, event.occurred_at, event.data, self.hub.clock.now()
            )
            request = HttpRequest("POST", target.endpoint.url, headers, body)
        else:
            request = HttpRequest("POST", endpoint.url, {}, None)
        self.requests.append({"step": step_id, "endpoint_id": endpoint.id, **request.describe()})
        return {"event_id": event.id, "endpoint_id": endpoint.id, "status": "not sent: preview"}

    async def connector(
        self, step_id: str, connection: str, operation: str, payload: Any, key: str
    ) -> dict[str, Any]:
        call: dict[str, Any] = {
            "step": step_id,
            "connector": connection,
            "operation": operation,
            "input": payload,
        }
        try:
            call["requests"] = await self.connectors.preview(
                connection=connection, operation=operation, input=payload
            )
        except Exception as exc:
            call["error"] = str(exc)
        self.requests.append(call)
        return {"status": "not sent: preview"}

    async def profile(
        self,
        keys: list[tuple[str, str]],
        traits: dict[str, Any],
        tags: dict[str, list[str]],
        increments: dict[str, int | float] | None = None,
    ) -> dict[str, Any]:
        return {
            "status": "not applied: preview",
            "identities": keys,
            "traits": traits,
            "tags": tags,
            "increment": increments or {},
        }

    async def publish(self, event: Event) -> dict[str, Any]:
        return {"status": "not published: preview", "event_id": event.id, "type": event.type}

    async def secrets(self, step_id: str, names: list[str]) -> dict[str, str]:
        """A preview never reads a secret: each shows as its name."""
        return {name: f"[secret {name}]" for name in names}
