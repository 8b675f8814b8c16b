"""The deployment's server secrets (table `server_secrets`, migration 0007).

Migration 0007 writes the `cursor` secret. A secret found missing (a restored or truncated
table; deleting the row is how one rotates it) is created here, once for every process: the
first writer wins and the others read its value.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from callplane.store.schema import server_secrets


def server_secret(conn: Connection, name: str, now: int) -> str:
    """The secret called `name`, made (random, 256 bits) if there is none. Needs a write connection."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(server_secrets)
        .values(name=name, value=secrets.token_urlsafe(32), created_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return str(conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).scalar_one())
