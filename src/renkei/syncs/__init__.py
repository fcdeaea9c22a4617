"""Syncs: records moved between Renkei and a connection, pulled or pushed, on a schedule,
on events (realtime, with per-user suppression) or by hand, under the quota planner."""

from renkei.syncs.engine import SyncEngine
from renkei.syncs.model import Sync, SyncExists, SyncInvalid, SyncRun
from renkei.syncs.planner import QuotaStatus
from renkei.syncs.service import SyncNotFound, SyncService

__all__ = [
    "QuotaStatus",
    "Sync",
    "SyncEngine",
    "SyncExists",
    "SyncInvalid",
    "SyncNotFound",
    "SyncRun",
    "SyncService",
]
