"""What a feature implements so its objects can be planned, applied and exported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from renkei.hub import Hub


class ResourceKind(Protocol):
    """One section of the configuration file (``endpoints``, ``flows`` ...).

    Objects are matched by ``name``. ``export`` gives each object as it would be written
    in the file, without secrets; ``comparable`` reduces a spec from the file to the same
    shape, so an unchanged object plans as unchanged. ``apply`` creates or updates
    idempotently and returns the object's id.
    """

    section: str

    async def export(self, hub: Hub) -> dict[str, dict[str, Any]]: ...

    def comparable(self, spec: dict[str, Any]) -> dict[str, Any]: ...

    async def apply(
        self, hub: Hub, spec: dict[str, Any], current: dict[str, Any] | None
    ) -> str: ...
