"""Bulk operations: resending deliveries, replaying stored events to an endpoint or a flow,
rerunning flow runs and sync runs (see docs/operations.md, "Run it again").

An operation is a row of ``operations`` worked by the ``operations.run`` job in bounded
batches; each batch commits its work with the operation's progress and cursor, so an
operation resumes after a crash where it stopped and never does an item twice.
"""

from renkei.operations.model import Operation
from renkei.operations.runner import KINDS, OperationRunner

__all__ = ["KINDS", "Operation", "OperationRunner"]
