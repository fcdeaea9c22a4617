"""Persistence: engines, tables and migrations, and all that differs between SQLite and
PostgreSQL, so that no module outside ``store/`` names a backend:

- ``statements``: insert-ignoring and upsert (``ON CONFLICT``);
- ``event_writes`` and ``identity_owners``: ingest's hot statements, each backend's fastest;
- ``locks``: a named lock held until commit; ``notifications``: waking other processes;
- ``urls``: what a database URL names; ``Database.single_writer``: writers queue.
"""

from renkei.store.database import Database
from renkei.store.migrate import migrate

__all__ = ["Database", "migrate"]
