"""Persistence: engines, tables and migrations."""

from renkei.store.database import Database
from renkei.store.migrate import migrate

__all__ = ["Database", "migrate"]
