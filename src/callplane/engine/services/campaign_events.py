"""`campaign_started` and `campaign_finished`: written to the same outbox as call events, in the
transaction of the status change, and signed and delivered by the same relay.

The envelope is `{"event", "webhook_version": "v2", "campaign": {id, name, status, from_number,
agent, total_calls, completed_calls, failed_calls, in_progress_calls, remaining_calls,
active_concurrency, started_at, finished_at, occurred_at}}`. Destinations: every enabled endpoint
of the organisation subscribed to the event, for all agents or for the campaign's agent. The
outbox's `call_id` column holds the campaign id (the event's subject), so the delivery log of
a campaign is read like a call's.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection

from callplane.domain.campaign import Campaign, Counters
from callplane.domain.phone import to_domestic
from callplane.engine.services.webhooks import WEBHOOK_VERSION, EventType, new_event_id
from callplane.store import outbox
from callplane.store.outbox import Target


def payload(campaign: Campaign, counters: Counters, event: EventType, now: int) -> dict[str, Any]:
    return {
        "event": event.value,
        "webhook_version": WEBHOOK_VERSION,
        "campaign": {
            "id": campaign.id,
            "name": campaign.name,
            "status": campaign.status.value,
            "from_number": to_domestic(campaign.from_number),
            "agent": (
                {"agent_id": campaign.agent_id, "agent_version": campaign.agent_version}
                if campaign.agent_id
                else None
            ),
            "total_calls": counters.total,
            "completed_calls": counters.completed,
            "failed_calls": counters.failed,
            "in_progress_calls": counters.in_progress,
            "remaining_calls": counters.remaining,
            "active_concurrency": counters.active_concurrency,
            "started_at": campaign.started_at,
            "finished_at": campaign.finished_at,
            "occurred_at": now,
        },
    }


def emit(conn: Connection, campaign: Campaign, counters: Counters, event: EventType, now: int) -> str | None:
    """Write the event with a delivery per destination; None when no endpoint wants it."""
    endpoints = outbox.destinations(conn, campaign.organization_id, campaign.agent_id or "", event.value)
    if not endpoints:
        return None
    event_id = new_event_id()
    outbox.add_event(
        conn,
        campaign.organization_id,
        event_id=event_id,
        call_id=campaign.id,
        event_type=event.value,
        body=orjson.dumps(payload(campaign, counters, event, now)).decode(),
        now=now,
        targets=[Target(e.url, e.id) for e in endpoints],
    )
    return event_id
