"""The carrier side's database reads under a database blip."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from callplane.engine.clock import SystemClock
from callplane.engine.services import carrier
from callplane.store.db import Database
from tests.conftest import _postgres_admin_url, _truncate
from tests.factories import make_tenant


@pytest.mark.postgres
def test_the_line_of_a_number_is_read_through_a_terminated_backend(postgres_db: Database) -> None:
    """Asked at dial time: failing there would end the call `dial_failed` (bench/chaos.py found
    one such call)."""
    db = postgres_db
    _truncate(db)
    tenant = make_tenant(db, SystemClock().now_ms())
    line = carrier.line_of(db)
    assert line(tenant.from_number) == "simulated"
    with psycopg.connect(_postgres_admin_url(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (make_url(db.url).database,),
        )
    # At once, before the pool would ping the connection it hands out (it does after 1 s idle).
    assert line(tenant.from_number) == "simulated"
