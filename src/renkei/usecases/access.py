"""Who is asking, and whether they may.

An :data:`Actor` is the API token behind a request or a dashboard session, or ``None``
(:data:`LOCAL`) for the operator at the machine: the CLI and ``renkei apply`` hold the
database and the key already, so they may do everything, and the audit log names them
"system".
"""

from __future__ import annotations

from renkei.errors import Forbidden
from renkei.security.targets import may_move_credentials
from renkei.security.tokens import Principal, Scope, scope_allows

__all__ = ["LOCAL", "Actor", "can_move_credentials", "require"]

Actor = Principal | None
LOCAL: Actor = None


def require(actor: Actor, scope: Scope) -> None:
    """Refuse an actor whose token's scope is below ``scope`` (admin ⊇ write ⊇ read)."""
    if actor is not None and not scope_allows(actor.scope, scope):
        raise Forbidden(f"this token's scope is {actor.scope}; {scope} is needed")


def can_move_credentials(actor: Actor) -> bool:
    """Whether the actor may send stored credentials to a new host: the operator at the
    machine holds the key already; a token needs ``admin`` (``security.targets``)."""
    return actor is None or may_move_credentials(actor.scope)
