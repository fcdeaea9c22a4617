"""partitions: events, deliveries and delivery attempts partitioned by week (PostgreSQL)

Revision ID: 0028
Revises: 0027

On PostgreSQL the three tables become range-partitioned by their time column (``events``
by ``received_at``, ``deliveries`` by ``created_at``, ``delivery_attempts`` by
``started_at``), one partition a week (Monday 00:00 UTC on), plus a DEFAULT partition (store/partitions.py), so
that expiry drops whole partitions instead of deleting rows (operations/retention.py).
Existing rows are copied into partitions made for the weeks they fall in, and those of
this week and the next two; the old tables are dropped. Every index stays; what changes:

- a key or unique index must include the partition key: the primary keys become
  ``(seq, received_at)``, ``(seq, created_at)`` and ``(id, started_at)``, and the unique
  ``events.id``/``deliveries.id`` plain indexes (``ix_events_id``, ``ix_deliveries_id``);
- ``events.id`` stays unique across partitions through ``event_ids`` (id primary key),
  which triggers on ``events`` keep: a row whose id is taken is skipped, as ``ON CONFLICT
  DO NOTHING`` skipped it before; a deleted event frees its id;
- ``deliveries.id`` is generated (``dlv_`` and random bits) and never inserted twice:
  nothing needs it unique across partitions;
- nothing references these tables by foreign key; ``deliveries.endpoint_id`` still
  references ``endpoints``.

SQLite keeps its tables (expiry by batched deletes): this revision does nothing there. The
copy runs inside ``renkei migrate`` like any revision: on a large database it takes about
as long as writing the rows again (docs/scaling.md).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from renkei.store.partitions import SPAN, create_ahead_sync, floor, literal, name_of

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_EVENTS = """
CREATE TABLE events (
    seq BIGINT NOT NULL DEFAULT nextval('events_seq_seq'),
    id VARCHAR(255) NOT NULL,
    type VARCHAR(200) NOT NULL,
    name VARCHAR(255),
    source_id VARCHAR(40),
    user_id VARCHAR(255),
    anonymous_id VARCHAR(255),
    email VARCHAR(320),
    data JSONB NOT NULL,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_events PRIMARY KEY (seq, received_at)
) PARTITION BY RANGE (received_at)
"""
_EVENT_INDEXES = (
    "CREATE INDEX ix_events_id ON events (id)",
    "CREATE INDEX ix_events_type_seq ON events (type, seq)",
    "CREATE INDEX ix_events_user_id ON events (user_id)",
    "CREATE INDEX ix_events_received_at ON events (received_at)",
    "CREATE INDEX ix_events_anonymous_only ON events (anonymous_id)"
    " WHERE user_id IS NULL AND anonymous_id IS NOT NULL",
    "CREATE INDEX ix_events_email_only ON events (email)"
    " WHERE user_id IS NULL AND anonymous_id IS NULL AND email IS NOT NULL",
)
_DELIVERIES = """
CREATE TABLE deliveries (
    seq BIGINT NOT NULL DEFAULT nextval('deliveries_seq_seq'),
    id VARCHAR(40) NOT NULL,
    event_id VARCHAR(255) NOT NULL,
    endpoint_id VARCHAR(40) NOT NULL,
    event_type VARCHAR(200) NOT NULL,
    status VARCHAR(16) NOT NULL,
    lane VARCHAR(255),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP WITH TIME ZONE,
    last_attempt_at TIMESTAMP WITH TIME ZONE,
    last_status_code INTEGER,
    last_error TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_deliveries PRIMARY KEY (seq, created_at),
    CONSTRAINT fk_deliveries_endpoint_id_endpoints FOREIGN KEY (endpoint_id)
        REFERENCES endpoints (id)
) PARTITION BY RANGE (created_at)
"""
_DELIVERY_INDEXES = (
    "CREATE INDEX ix_deliveries_id ON deliveries (id)",
    "CREATE INDEX ix_deliveries_event_id ON deliveries (event_id)",
    "CREATE INDEX ix_deliveries_endpoint_created ON deliveries (endpoint_id, created_at)",
    "CREATE INDEX ix_deliveries_endpoint_status ON deliveries (endpoint_id, status)",
    "CREATE INDEX ix_deliveries_created_status ON deliveries (created_at, status)",
    "CREATE INDEX ix_deliveries_lane_open ON deliveries (endpoint_id, lane, seq)"
    " WHERE status IN ('pending', 'failed', 'held')",
)
_ATTEMPTS = """
CREATE TABLE delivery_attempts (
    id BIGINT NOT NULL DEFAULT nextval('delivery_attempts_id_seq'),
    delivery_id VARCHAR(40),
    endpoint_id VARCHAR(40) NOT NULL,
    event_id VARCHAR(255) NOT NULL,
    attempt INTEGER NOT NULL,
    trigger VARCHAR(16) NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    url TEXT NOT NULL,
    request_headers JSONB NOT NULL,
    status_code INTEGER,
    response_headers JSONB,
    response_body TEXT,
    duration_ms DOUBLE PRECISION NOT NULL,
    error TEXT,
    success BOOLEAN NOT NULL,
    CONSTRAINT pk_delivery_attempts PRIMARY KEY (id, started_at)
) PARTITION BY RANGE (started_at)
"""
_ATTEMPT_INDEXES = (
    "CREATE INDEX ix_delivery_attempts_delivery_id ON delivery_attempts (delivery_id)",
    "CREATE INDEX ix_delivery_attempts_endpoint_health"
    " ON delivery_attempts (endpoint_id, started_at, success)",
    "CREATE INDEX ix_delivery_attempts_endpoint_id ON delivery_attempts (endpoint_id, id)",
)
# (table, its key sequence and column, its time column, CREATE TABLE, CREATE INDEXes)
_TABLES = (
    ("events", "events_seq_seq", "seq", "received_at", _EVENTS, _EVENT_INDEXES),
    ("deliveries", "deliveries_seq_seq", "seq", "created_at", _DELIVERIES, _DELIVERY_INDEXES),
    (
        "delivery_attempts",
        "delivery_attempts_id_seq",
        "id",
        "started_at",
        _ATTEMPTS,
        _ATTEMPT_INDEXES,
    ),
)

# event_ids: the ids of stored events, one each, whatever partition holds the event. A
# BEFORE trigger claims the id and skips the row when another event holds it; an AFTER
# DELETE trigger frees it. Both stand aside while rows only move between partitions
# (renkei.keep_event_ids, store/partitions.py).
_EVENT_IDS = (
    "CREATE TABLE event_ids (id VARCHAR(255) NOT NULL,"
    " received_at TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT pk_event_ids PRIMARY KEY (id))",
    """
    CREATE FUNCTION renkei_claim_event_id() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('renkei.keep_event_ids', true) = 'on' THEN
            RETURN NEW;
        END IF;
        INSERT INTO event_ids (id, received_at) VALUES (NEW.id, NEW.received_at)
            ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN NEW;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION renkei_release_event_id() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('renkei.keep_event_ids', true) IS DISTINCT FROM 'on' THEN
            DELETE FROM event_ids WHERE id = OLD.id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER events_claim_id BEFORE INSERT ON events"
    " FOR EACH ROW EXECUTE FUNCTION renkei_claim_event_id()",
    "CREATE TRIGGER events_release_id AFTER DELETE ON events"
    " FOR EACH ROW EXECUTE FUNCTION renkei_release_event_id()",
)


def _run(*statements: str) -> None:
    for statement in statements:
        op.execute(sa.text(statement))


def _set_aside(bind: sa.Connection, name: str, sequence: str) -> None:
    """Rename the table to ``<name>_old``, with its indexes and foreign keys, so that its
    successor takes their names; its key sequence is the successor's to own."""
    _run(f"ALTER SEQUENCE {sequence} OWNED BY NONE", f"ALTER TABLE {name} RENAME TO {name}_old")
    for (index,) in bind.execute(
        sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": f"{name}_old"}
    ):
        _run(f"ALTER INDEX {index} RENAME TO {index}_old")
    for (constraint,) in bind.execute(
        sa.text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"
            " AND contype IN ('f', 'u', 'p')"
        ),
        {"t": f"{name}_old"},
    ):
        if not constraint.endswith("_old"):
            _run(f"ALTER TABLE {name}_old RENAME CONSTRAINT {constraint} TO {constraint}_old")


def _copy(bind: sa.Connection, name: str) -> None:
    """Every row of ``<name>_old`` into ``name``, column by name; then drop the old table."""
    columns = ", ".join(
        bind.execute(
            sa.text(
                "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass)"
                " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            ),
            {"t": name},
        ).scalars()
    )
    _run(
        f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {name}_old",  # noqa: S608
        f"DROP TABLE {name}_old",
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name, sequence, key, time_column, create, indexes in _TABLES:
        _set_aside(bind, name, sequence)
        _run(create, *indexes)
        _run(
            f"ALTER SEQUENCE {sequence} OWNED BY {name}.{key}",
            f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT",
        )
        # A partition for each week that holds rows; the weeks ahead come below.
        times = bind.execute(
            sa.text(f"SELECT DISTINCT date_trunc('hour', {time_column}) FROM {name}_old")  # noqa: S608
        ).scalars()
        for start in sorted({floor(moment) for moment in times}):
            _run(
                f"CREATE TABLE IF NOT EXISTS {name_of(name, start)} PARTITION OF {name}"
                f" FOR VALUES FROM ({literal(start)}) TO ({literal(start + SPAN)})"
            )
    # Ids first: the triggers are not there yet, and every copied event keeps its id.
    _run(*_EVENT_IDS[:1])
    _run("INSERT INTO event_ids (id, received_at) SELECT id, received_at FROM events_old")
    for name, *_ in _TABLES:
        _copy(bind, name)
    _run(*_EVENT_IDS[1:])
    create_ahead_sync(bind, datetime.now(UTC))
    for name, *_ in _TABLES:
        _run(f"ANALYZE {name}")


def downgrade() -> None:
    """Back to one table each: the rows are copied into unpartitioned tables."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _run(
        "DROP TRIGGER events_claim_id ON events",
        "DROP TRIGGER events_release_id ON events",
        "DROP FUNCTION renkei_claim_event_id()",
        "DROP FUNCTION renkei_release_event_id()",
        "DROP TABLE event_ids",
    )
    for name, sequence, key, time_column, create, indexes in _TABLES:
        _set_aside(bind, name, sequence)
        unique = f"ix_{name}_id"
        plain = create.replace(f"PRIMARY KEY ({key}, {time_column})", f"PRIMARY KEY ({key})")
        _run(
            plain.replace(f"PARTITION BY RANGE ({time_column})", ""),
            *(index for index in indexes if not index.startswith(f"CREATE INDEX {unique} ")),
            f"ALTER SEQUENCE {sequence} OWNED BY {name}.{key}",
        )
        if name != "delivery_attempts":
            _run(f"ALTER TABLE {name} ADD CONSTRAINT uq_{name}_id UNIQUE (id)")
        _copy(bind, name)
