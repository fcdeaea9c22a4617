"""What the webhook services refuse: the webhooks area's branch of :mod:`renkei.errors`.

Each problem is also the matching branch of the one tree (``NotFoundProblem`` is a
:class:`~renkei.errors.NotFound`), so ``renkei.api.errors`` answers it with its status and
``renkei.cli._common`` prints its message, like every other :class:`RenkeiError`.
"""

from __future__ import annotations

from renkei.errors import Conflict, Gone, Invalid, NotFound, RenkeiError, Unavailable


class WebhookProblem(RenkeiError):
    """Anything the webhook services refuse (400 unless a subclass says otherwise)."""


class NotFoundProblem(WebhookProblem, NotFound):
    def __init__(self, kind: str, object_id: str) -> None:
        NotFound.__init__(self, kind, object_id)


class ConflictProblem(WebhookProblem, Conflict):
    pass


class InvalidProblem(WebhookProblem, Invalid):
    pass


class ExpiredProblem(WebhookProblem, Gone):
    """The delivery's event expired (retention): there is nothing left to send."""

    def __init__(self, delivery_id: str, event_id: str) -> None:
        Gone.__init__(
            self,
            f"delivery {delivery_id} cannot be sent again: its event {event_id} expired "
            "(RENKEI_RETENTION_EVENTS_DAYS)",
            code="expired",
            details={"delivery_id": delivery_id, "event_id": event_id},
        )


class UnavailableProblem(WebhookProblem, Unavailable):
    """Storage is behind or away: nothing was published; try again after ``retry_after``."""

    def __init__(self, message: str, *, code: str, retry_after: int) -> None:
        Unavailable.__init__(self, message, code=code, retry_after=retry_after)
