"""Alembic environment. Renkei runs migrations itself (``renkei migrate`` or on ``serve``)
and hands this script an open connection."""

from alembic import context

from renkei.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
