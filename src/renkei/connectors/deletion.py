"""How a connector deletes a person at its vendor: a declaration, like its operations.

A connector that can delete people sets ``person_deletion`` to a :class:`PersonDeletion`
naming one of its declared operations and how to build that operation's input from what
Renkei knows of the person (:class:`PersonIds`). Privacy requests call it on every
connection whose connector declares one; the others are "not applicable". Any connector
can plug in by declaring it; nothing else names vendors.

The operation answers ``OperationResult(data={"deleted": n, ...})``: ``n`` may be 0 (the
vendor held no one by those identifiers), which is done, not failed. A vendor that deletes
asynchronously (Klaviyo) answers once the deletion is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PersonDeletion", "PersonIds", "person_ids_for"]


@dataclass(frozen=True)
class PersonIds:
    """The identifiers a vendor may know a person by. ``vendor_ids``: ids this connection's
    vendor gave the person (a Marketo lead id), by identity kind, without the connection
    prefix Renkei stores them with."""

    user_ids: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    vendor_ids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def vendor(self, kind: str) -> tuple[str, ...]:
        return self.vendor_ids.get(kind, ())

    @property
    def empty(self) -> bool:
        return not (self.user_ids or self.emails or any(self.vendor_ids.values()))


@dataclass(frozen=True)
class PersonDeletion:
    operation: str
    """The declared operation that deletes (its input schema validates what ``input`` builds)."""
    input: Callable[[PersonIds], Any | None]
    """The operation's input for a person; None when nothing identifies them at this vendor."""


def person_ids_for(keys: list[tuple[str, str]] | list[list[str]], connection_id: str) -> PersonIds:
    """:class:`PersonIds` from a person's identities ``(kind, value)`` as Renkei stores them:
    vendor ids of *this* connection are ``<connection id>:<id>``."""
    user_ids: list[str] = []
    emails: list[str] = []
    vendor: dict[str, list[str]] = {}
    prefix = f"{connection_id}:"
    for kind, value in keys:
        if kind == "user_id":
            user_ids.append(value)
        elif kind == "email":
            emails.append(value)
        elif kind != "anonymous_id" and value.startswith(prefix):
            vendor.setdefault(kind, []).append(value[len(prefix) :])
    return PersonIds(
        tuple(user_ids), tuple(emails), {kind: tuple(ids) for kind, ids in vendor.items()}
    )
