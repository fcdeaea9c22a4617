"""Calls to each connection and how many failed, counted in this process.

Every attempt :class:`~renkei.connectors.http.ConnectorHTTP` makes on a connection the
runtime opened counts here, once it has an outcome; ``call_buckets.py`` adds the counts to
per-minute rows every few seconds for the ``connection_failure_rate`` alert rule.

Counting is a dict lookup and one or two additions on the event loop: no lock (everything
runs on one loop; :meth:`CallCounts.take` swaps the dict whole), no clock, no I/O. A vendor
call costs a millisecond or more; this costs a fraction of a microsecond
(``bench/connector_calls.py``).
"""

from __future__ import annotations

from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    QuotaExhaustedError,
    RateLimitedError,
    ReauthenticateError,
    RetryableError,
)

__all__ = ["CallCounts", "counts_as_call", "counts_as_failing"]


def counts_as_failing(error: ConnectorError) -> bool:
    """The vendor or the credentials fail; a limit that holds calls back, or one record the
    vendor refused, says nothing about the connection."""
    if isinstance(error, RateLimitedError):
        return False
    return isinstance(error, RetryableError | ReauthenticateError | ConfigurationError)


def counts_as_call(error: ConnectorError) -> bool:
    """A limit that held the call back (ours or the vendor's 429, the day's quota) is
    neither a success nor a failure of the connection: it is left out of its rate."""
    return not isinstance(error, RateLimitedError | QuotaExhaustedError)


class CallCounts:
    """Per connection id: ``[calls, failures]`` since the last :meth:`take`."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}

    def succeeded(self, connection_id: str) -> None:
        counts = self._counts.get(connection_id)
        if counts is None:
            self._counts[connection_id] = [1, 0]
        else:
            counts[0] += 1

    def failed(self, connection_id: str) -> None:
        counts = self._counts.get(connection_id)
        if counts is None:
            self._counts[connection_id] = [1, 1]
        else:
            counts[0] += 1
            counts[1] += 1

    def error(self, connection_id: str, error: ConnectorError) -> None:
        """A call that ended in ``error``: a failure, a call that worked (the vendor refused
        a record), or nothing at all (a limit)."""
        if counts_as_failing(error):
            self.failed(connection_id)
        elif counts_as_call(error):
            self.succeeded(connection_id)

    def take(self) -> dict[str, tuple[int, int]]:
        """The counts so far, by connection id, as ``(calls, failures)``; counting restarts
        from zero."""
        taken, self._counts = self._counts, {}
        return {
            connection_id: (calls, failures) for connection_id, (calls, failures) in taken.items()
        }

    def give_back(self, taken: dict[str, tuple[int, int]]) -> None:
        """Counts a flush could not store: they go out with the next one."""
        for connection_id, (calls, failures) in taken.items():
            counts = self._counts.setdefault(connection_id, [0, 0])
            counts[0] += calls
            counts[1] += failures

    def __bool__(self) -> bool:
        return bool(self._counts)
