"""Status changes clients hear about (`engine.lifecycle`): the answer, stored once per attempt."""

from __future__ import annotations

from sqlalchemy import func, select

from callplane.engine import lifecycle
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store import calls as call_store
from callplane.store.db import Database
from callplane.store.schema import webhook_events
from tests.factories import Tenant
from tests.store.test_progress import NOW, dialing


def test_an_answer_stored_again_under_its_attempt_is_answered_and_written_once(
    db: Database, tenant: Tenant
) -> None:
    """A retry after a commit whose acknowledgement was lost finds the answer stored: answered
    (the run goes on as a live call's), one `call_started`; another attempt's answer is not."""
    WebhookAdmin(db, lambda: NOW).add(tenant.organization_id, "https://receiver.example.com/hooks")
    call_id, attempt = dialing(db, tenant)
    with db.write() as conn:
        call = call_store.get_call(conn, tenant.organization_id, call_id)
        assert lifecycle.answered(conn, call, fence=attempt, at=NOW, now=NOW)
    with db.write() as conn:
        assert lifecycle.answered(conn, call, fence=attempt, at=NOW, now=NOW + 5)
        assert not lifecycle.answered(conn, call, fence=attempt + 1, at=NOW, now=NOW + 5)
    with db.read() as conn:
        started = conn.execute(
            select(func.count()).where(
                webhook_events.c.organization_id == tenant.organization_id,
                webhook_events.c.call_id == call_id,
                webhook_events.c.type == "call_started",
            )
        ).scalar_one()
    assert started == 1
