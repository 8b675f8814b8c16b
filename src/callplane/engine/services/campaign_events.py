"""`campaign_started` and `campaign_finished`: written to the same outbox as call events, in the
transaction of the status change, and signed and delivered by the same relay.

Destinations: every enabled endpoint of the organisation subscribed to the event, for all agents
or for the campaign's agent, whose payload format carries campaign events (Vox's does; Retell
has none). The body is the format's (`WebhookFormat.render_campaign`; Vox's envelope is
documented with it), rendered once per format. The event's subject is the campaign
(`subject_kind` = `campaign`), never a call.
"""

from __future__ import annotations

from sqlalchemy import Connection

from callplane.domain.campaign import Campaign, Counters
from callplane.engine.services.webhook_formats import FORMATS
from callplane.engine.services.webhooks import EventType, new_event_id
from callplane.store import outbox
from callplane.store.outbox import Subject, SubjectKind, Target


def emit(conn: Connection, campaign: Campaign, counters: Counters, event: EventType, now: int) -> list[str]:
    """Write the event with a delivery per destination (one event per payload format among
    them); returns the event ids, none when no endpoint wants it."""
    by_format: dict[str, list[Target]] = {}
    for e in outbox.destinations(conn, campaign.organization_id, campaign.agent_id or "", event.value):
        if event.value in FORMATS.get(e.format).events:
            by_format.setdefault(e.format, []).append(Target(e.url, e.id, e.format))
    written = []
    for name, targets in by_format.items():
        event_id = new_event_id()
        outbox.add_event(
            conn,
            campaign.organization_id,
            event_id=event_id,
            subject=Subject(SubjectKind.CAMPAIGN, campaign.id),
            event_type=event.value,
            body=FORMATS.get(name).render_campaign(campaign, counters, event.value, now),
            now=now,
            targets=targets,
            format=name,
        )
        written.append(event_id)
    return written
