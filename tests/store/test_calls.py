"""Status transitions that write a webhook event learn, from their own UPDATE, whether the
organisation has an enabled endpoint (`move_announcing`), so the outbox looks endpoints up only
then. Both dialects."""

from __future__ import annotations

from callplane.domain.call import CallStatus
from callplane.engine.clock import FixedClock
from callplane.store import calls as call_store
from callplane.store import outbox
from callplane.store.db import Database
from tests.engine.scripted import create_calls
from tests.factories import make_tenant


def test_a_transition_returns_the_call_it_left_and_the_organisations_enabled_endpoints(
    db: Database,
) -> None:
    clock = FixedClock(1_700_000_000_000)
    tenant, other = make_tenant(db, clock.now_ms()), make_tenant(db, clock.now_ms(), name="other")
    first, second, third = create_calls(db, clock, tenant, 3)
    org = tenant.organization_id
    now = clock.now_ms()
    with db.write() as conn:
        # Another organisation's endpoint is not this one's.
        outbox.create_endpoint(
            conn, other.organization_id, url="https://a.test/h", secret="s", events=["call_ended"],
            agent_id=None, description="", now=now,
        )  # fmt: skip
        moved = call_store.move_announcing(conn, org, first, CallStatus.CANCELED, now + 5)
        assert moved is not None and moved.endpoints is None
        # The row as the change left it: the event is rendered from it, not from a second read.
        assert (moved.call().id, moved.call().status, moved.call().updated_at) == (
            first, CallStatus.CANCELED, now + 5,
        )  # fmt: skip
        endpoint = outbox.create_endpoint(
            conn, org, url="https://b.test/h", secret="s", events=["call_ended"],
            agent_id=None, description="", now=now,
        )  # fmt: skip
        moved = call_store.move_announcing(conn, org, second, CallStatus.CANCELED, now)
        assert moved is not None and moved.endpoints == endpoint.id
        outbox.disable_endpoint(conn, org, endpoint.id, "gone")
        moved = call_store.move_announcing(conn, org, third, CallStatus.CANCELED, now)
        assert moved is not None and moved.endpoints is None


def test_a_transition_that_does_not_apply_moves_nothing(db: Database) -> None:
    clock = FixedClock(1_700_000_000_000)
    tenant = make_tenant(db, clock.now_ms())
    [call_id] = create_calls(db, clock, tenant, 1)
    with db.write() as conn:
        # A queued call cannot be answered, and a wrong fence never moves it.
        assert (
            call_store.move_announcing(conn, tenant.organization_id, call_id, CallStatus.ONGOING, 1) is None
        )
        moved = call_store.move_announcing(
            conn, tenant.organization_id, call_id, CallStatus.DIALING, 1, fence=7
        )
        assert moved is None
        found = call_store.get_call(conn, tenant.organization_id, call_id)
        assert found is not None and found.status is CallStatus.QUEUED
