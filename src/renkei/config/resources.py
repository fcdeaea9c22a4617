"""What a feature implements so its objects can be planned, applied and exported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from renkei.core import Core


class ResourceKind(Protocol):
    """One section of the configuration file (``endpoints``, ``flows`` ...).

    Objects are matched by ``name``. ``export`` gives each object as it would be written
    in the file, without secrets; ``comparable`` reduces a spec from the file to the same
    shape, so an unchanged object plans as unchanged. ``apply`` creates or updates
    idempotently and returns the object's id, updating every field of a stored object in
    place (a field left out of the file goes back to its default).

    ``validate`` runs every check ``apply`` would run, without writing: ``renkei plan``
    calls it for each object, so a plan refuses what an apply would refuse. ``config`` is
    the whole file, for references to objects the same file creates.
    """

    section: str

    async def export(self, hub: Core) -> dict[str, dict[str, Any]]: ...

    def comparable(self, spec: dict[str, Any]) -> dict[str, Any]: ...

    async def validate(
        self,
        hub: Core,
        spec: dict[str, Any],
        current: dict[str, Any] | None,
        config: dict[str, list[dict[str, Any]]],
    ) -> None: ...

    async def apply(
        self, hub: Core, spec: dict[str, Any], current: dict[str, Any] | None
    ) -> str: ...
