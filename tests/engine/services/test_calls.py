"""Creating calls through `CallService` when the database has just dropped its connections."""

from __future__ import annotations

import pytest

from callplane.engine.clock import SystemClock
from callplane.engine.services.calls import CallService
from callplane.store import calls as call_store
from callplane.store.db import Database
from tests.engine.jobs.test_callrun import fresh_pool_after, terminate_backends
from tests.engine.scripted import new_call
from tests.factories import Tenant

__all__ = ["fresh_pool_after"]  # the fixture, used by name


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)
@pytest.mark.usefixtures("fresh_pool_after")
def test_a_create_after_the_database_dropped_its_connections_succeeds_once(
    db: Database, tenant: Tenant
) -> None:
    service = CallService(db, SystemClock().now_ms)
    service.create(tenant.organization_id, new_call(tenant))  # the pool holds a connection now
    assert terminate_backends(db) >= 1

    created = service.create(tenant.organization_id, new_call(tenant, idempotency_key="after-the-blip"))

    with db.read() as conn:
        stored = call_store.get_call(conn, tenant.organization_id, created.call.id)
    assert stored is not None and not created.replayed
    again = service.create(tenant.organization_id, new_call(tenant, idempotency_key="after-the-blip"))
    assert again.replayed and again.call.id == created.call.id
