"""The use cases: what a person can do with Renkei, written once for every door they come
in by. The API (``renkei.api``), the CLI (``renkei.cli``) and the dashboard call these
functions, never the tables, for anything that changes state or is more than one lookup.

Each use case takes the hub and the :data:`Actor`, checks the actor's scope
(:func:`require`), does its work in one transaction, writes the audit entry, and raises
only :mod:`renkei.errors`. One module per area: ``webhooks`` (endpoints, event types,
deliveries, publishing), ``events``, ``sources``, ``profiles``, ``flows``, ``secrets``,
``connections``, ``syncs``, ``tokens``, ``audit``, ``alerts``, ``operations`` (reruns,
resends and replays), ``jobs`` (dead queue jobs).
"""

from renkei.usecases.access import LOCAL, Actor, require

__all__ = ["LOCAL", "Actor", "require"]
