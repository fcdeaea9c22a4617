"""What syncs read from and write to HubSpot (see ``connectors/sync_objects.py``).

- pull ``contacts``: contacts modified since the cursor (``read_contacts``, HubSpot's own
  ``{since, seen, offset}`` cursor) merged into profiles by email with the identity
  ``hubspot_contact_id``, as of ``lastmodifieddate``;
- push ``contacts``: profiles to ``upsert_contacts`` (batch upsert on email, 100 a call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from renkei.connectors.sync_objects import Page, PullProfiles, PushProfiles, SyncCall, SyncObject

__all__ = ["CONTACT_ID", "HUBSPOT_SYNC_OBJECTS"]

CONTACT_ID = "hubspot_contact_id"
_UPSERT_BATCH = 100  # the batch upsert's limit (hubspot.MAX_UPSERT)


async def read_contact_page(
    call: SyncCall, config: Mapping[str, Any], cursor: Mapping[str, Any]
) -> Page:
    read: dict[str, Any] = {"page_size": min(200, int(config.get("page_size") or 100))}
    read["max_pages"] = 1
    if config.get("fields"):
        read["properties"] = [str(f) for f in config["fields"]]
    position = cursor.get("cursor")
    if position:
        read["cursor"] = position
    elif config.get("since"):
        read["since"] = str(config["since"])
    result = await call("read_contacts", read)
    data: dict[str, Any] = result.data or {}
    contacts = [
        {**dict(record.get("properties") or {}), "id": record.get("id")}
        for record in data.get("records") or []
    ]
    return Page(contacts, {"cursor": data.get("cursor") or position}, bool(data.get("more")))


HUBSPOT_SYNC_OBJECTS: tuple[SyncObject, ...] = (
    PullProfiles(
        "contacts",
        read=read_contact_page,
        identity=CONTACT_ID,
        modified="lastmodifieddate",
        modified_is_trait=True,
    ),
    PushProfiles(
        "contacts", write="upsert_contacts", identity=CONTACT_ID, batch_size=_UPSERT_BATCH
    ),
)
