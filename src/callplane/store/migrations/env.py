"""Alembic environment, run on a connection handed over by `callplane.store.migrate`.

That connection is already inside one write transaction, so the whole upgrade is atomic and
two processes starting at once (serve and worker) migrate one after the other. The `alembic`
command line (with the repository's `alembic.ini`) gets no connection: it then opens the
database callplane is configured for (`CALLPLANE_DATABASE_URL`), the same way.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from callplane.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    _run(handed_over)
else:
    from callplane.config import Settings
    from callplane.store.db import Database

    with Database(Settings().database_url).write() as conn:
        _run(conn)
