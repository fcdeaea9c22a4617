"""Privacy: delete a person everywhere, follow the request, suppress and lift, export.

Audit entries name the request, the profile id and the keyed hash of what the person was
looked up by (the same hash suppressions use), never the email or user id itself.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from renkei.errors import Invalid, NotFound
from renkei.events import suppressions
from renkei.events.forget import EVENT_MODES, find_person, with_email_holders
from renkei.events.profiles import MAX_VALUE_LENGTH
from renkei.events.suppressions import SUPPRESSION_KINDS, Suppression
from renkei.privacy import PrivacyRequest, VendorsToRetry, export_person
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, read_page
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "export_profile",
    "get_request",
    "lift_suppression",
    "list_requests",
    "list_suppressions",
    "request_deletion",
    "suppress",
    "work_request",
]

_LOOKUPS = ("profile_id", "user_id", "email")


def _one_subject(**given: str | None) -> tuple[str, str]:
    named = [(k, v) for k, v in given.items() if v is not None]
    if len(named) != 1:
        raise Invalid(f"give exactly one of {', '.join(_LOOKUPS)}", code="invalid_subject")
    kind, value = named[0]
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE_LENGTH:
        raise Invalid(f"{kind} must be 1 to {MAX_VALUE_LENGTH} characters", code="invalid_subject")
    return kind, value.strip()


async def request_deletion(
    hub: Hub,
    actor: Actor,
    *,
    profile_id: str | None = None,
    user_id: str | None = None,
    email: str | None = None,
    events: str | None = None,
    via: str | None = None,
) -> PrivacyRequest:
    """Start deleting the person with this profile id, user id or email: from Renkei, then
    from every connection. 404 for an unknown profile id; a user id or email that no
    profile holds still makes a request (events and vendors may know it)."""
    require(actor, "write")
    kind, value = _one_subject(profile_id=profile_id, user_id=user_id, email=email)
    mode = events or hub.settings.privacy_events
    if mode not in EVENT_MODES:
        raise Invalid(f"events must be one of {', '.join(EVENT_MODES)}", code="invalid_events_mode")
    async with hub.database.transaction() as tx:
        if kind == "profile_id":
            person = await find_person(tx, profile_id=value)
        else:
            person = await find_person(tx, kind=kind, value=value)
        if person is None or (person.profile_id is None and kind == "profile_id"):
            raise NotFound("profile" if kind == "profile_id" else "person", value)
        # Profiles holding one of the person's emails only as a trait are theirs too.
        person = await with_email_holders(tx, person)
        request = await hub.privacy.create_deletion(
            tx, person, events_mode="scrub" if mode == "scrub" else "delete"
        )
        key = await suppressions.ensure_key(tx, hub.keyring, hub.clock.now())
        await hub.audit(
            tx,
            actor,
            "privacy.delete_requested",
            target_type="privacy_request",
            target_id=request.id,
            details=with_via(
                via,
                {
                    "lookup": kind,
                    "subject_hash": value
                    if kind == "profile_id"
                    else suppressions.identity_hash(key, kind, value),
                    "profile_id": person.profile_id,
                    "identities": len(person.keys),
                    "events_mode": request.events_mode,
                },
            ),
        )
    return request


async def get_request(hub: Hub, actor: Actor, request_id: str) -> PrivacyRequest:
    require(actor, "read")
    async with hub.database.read() as reader:
        return await hub.privacy.get(reader, request_id)


async def list_requests(
    hub: Hub, actor: Actor, *, limit: int | None = None, cursor: str | None = None
) -> Listed[PrivacyRequest]:
    require(actor, "read")
    return await read_page(
        hub.database,
        lambda reader, size, before: hub.privacy.list_requests(reader, limit=size, before=before),
        lambda request: request.id,
        limit=limit,
        cursor=cursor,
    )


async def suppress(
    hub: Hub, actor: Actor, *, kind: str, value: str, via: str | None = None
) -> tuple[Suppression, bool]:
    """Suppress a person by user id, anonymous id or email; their profile's other
    identities are covered too. Returns the suppression and whether it is new."""
    require(actor, "write")
    if kind not in SUPPRESSION_KINDS:
        raise Invalid(
            f"kind must be one of {', '.join(SUPPRESSION_KINDS)}", code="invalid_suppression"
        )
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE_LENGTH:
        raise Invalid(
            f"value must be 1 to {MAX_VALUE_LENGTH} characters", code="invalid_suppression"
        )
    async with hub.database.transaction() as tx:
        person = await find_person(tx, kind=kind, value=value)
        also = [key for key in (person.keys if person else []) if key[0] in SUPPRESSION_KINDS]
        found, created = await suppressions.add_suppression(
            tx, hub.keyring, hub.clock.now(), kind=kind, value=value, also=also
        )
        if created:
            await hub.audit(
                tx,
                actor,
                "suppression.created",
                target_type="suppression",
                target_id=found.id,
                details=with_via(
                    via,
                    {"kind": found.kind, "value_hash": found.value_hash, "covers": found.covers},
                ),
            )
    return found, created


async def list_suppressions(
    hub: Hub, actor: Actor, *, limit: int | None = None, cursor: str | None = None
) -> Listed[Suppression]:
    require(actor, "read")
    return await read_page(
        hub.database,
        lambda reader, size, before: suppressions.list_suppressions(
            reader, limit=size, before=before
        ),
        lambda item: item.id,
        limit=limit,
        cursor=cursor,
    )


async def lift_suppression(
    hub: Hub, actor: Actor, suppression_id: str, *, via: str | None = None
) -> Suppression:
    require(actor, "write")
    async with hub.database.transaction() as tx:
        lifted = await suppressions.lift_suppression(tx, suppression_id)
        await hub.audit(
            tx,
            actor,
            "suppression.lifted",
            target_type="suppression",
            target_id=lifted.id,
            details=with_via(via, {"kind": lifted.kind, "value_hash": lifted.value_hash}),
        )
    return lifted


async def export_profile(
    hub: Hub, actor: Actor, profile_id: str, *, via: str | None = None
) -> dict[str, Any]:
    """Everything held about the person with this profile (audited: it is personal data
    leaving Renkei)."""
    require(actor, "read")
    async with hub.database.read() as reader:
        document = await export_person(reader, profile_id, hub.clock.now())
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            actor,
            "privacy.exported",
            target_type="profile",
            target_id=document["profile"]["id"],
            details=with_via(via, {"events": len(document["events"])}),
        )
    return document


async def work_request(hub: Hub, actor: Actor, request_id: str) -> PrivacyRequest:
    """Run a deletion request now, in this process, with this process's settings (the
    CLI's ``--in-process``); a worker that takes its job later finds it finished. A vendor failure that may pass leaves it
    running, for the job's retries."""
    require(actor, "write")
    async with hub.database.read() as reader:
        await hub.privacy.get(reader, request_id)  # 404 before any work
    with contextlib.suppress(VendorsToRetry):  # its job retries them; the status says which
        await hub.privacy.run(request_id)
    async with hub.database.read() as reader:
        return await hub.privacy.get(reader, request_id)
