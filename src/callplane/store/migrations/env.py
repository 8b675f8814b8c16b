"""Alembic environment: always run on a connection handed over by `callplane.store.migrate`.

That connection is already inside one write transaction, so the whole upgrade is atomic and
two processes starting at once (serve and worker) migrate one after the other.
"""

from __future__ import annotations

from alembic import context

from callplane.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
