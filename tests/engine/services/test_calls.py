"""Creating calls through `CallService` when the database has just dropped its connections."""

from __future__ import annotations

import pytest

from callplane.domain.errors import ValidationFailed
from callplane.engine.clock import SystemClock
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.store import calls as call_store
from callplane.store.db import Database
from tests.engine.jobs.test_callrun import fresh_pool_after, terminate_backends
from tests.engine.scripted import new_call
from tests.factories import FLOW_AGENT, Tenant, make_tenant

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


def test_each_agent_version_keeps_its_own_privacy_setting(db: Database, tenant: Tenant) -> None:
    """The setting is remembered per version (versions never change); a new version is read."""
    clock = SystemClock()
    service = CallService(db, clock.now_ms)
    admin = Admin(db, clock.now_ms, allow_private_destinations=True)
    first = service.create(tenant.organization_id, new_call(tenant)).call
    private = {**FLOW_AGENT, "settings": {"opt_out_sensitive_data_storage": True}}
    admin.add_version(tenant.organization_id, tenant.agent_id, private)
    second = service.create(tenant.organization_id, new_call(tenant)).call
    pinned = service.create(tenant.organization_id, new_call(tenant, agent_version="v1")).call
    assert (first.agent.version, first.opt_out_sensitive_data_storage) == (1, False)
    assert (second.agent.version, second.opt_out_sensitive_data_storage) == (2, True)
    assert (pinned.agent.version, pinned.opt_out_sensitive_data_storage) == (1, False)
    # Another organisation's agent of the same id is not this one's (ids are per organisation).
    other = make_tenant(db, clock.now_ms(), name="other")
    with pytest.raises(ValidationFailed):
        service.create(other.organization_id, new_call(other, agent_id=tenant.agent_id))
