"""Campaign rows: insert, read, pages, the feeder's lock and status moves, the gates the
dispatcher reads, and the campaign's calls (live count, pause and resume). Tasks:
`store.campaign_tasks`.

On PostgreSQL the feeder locks the campaign row (`lock`, `SKIP LOCKED`), so two workers never
count the same free slots; on SQLite the single writer serialises them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from callplane.domain.call import LIVE_STATUSES, CallStatus, DisconnectionReason
from callplane.domain.campaign import (
    Campaign,
    CampaignStatus,
    Gate,
    PausedBy,
    RetryRule,
    Windows,
)
from callplane.domain.org import CallingWindow
from callplane.store.schema import calls, campaigns

_LIVE = [s.value for s in LIVE_STATUSES]


def insert_campaign(
    conn: Connection, campaign: Campaign, *, idempotency_key: str | None, fingerprint: str | None
) -> None:
    w = campaign.window.spans[0]
    conn.execute(
        insert(campaigns).values(
            organization_id=campaign.organization_id,
            id=campaign.id,
            name=campaign.name,
            from_number=campaign.from_number,
            agent_id=campaign.agent_id,
            agent_version=campaign.agent_version,
            presentation_number=campaign.presentation_number,
            scheduled_at=campaign.scheduled_at,
            timezone=w.timezone,
            window_start_min=w.start_min,
            window_end_min=w.end_min,
            window_days=w.days,
            windows=campaign.window.to_json(),
            concurrency=campaign.concurrency,
            retry=campaign.retry.to_json(),
            status=campaign.status.value,
            paused_by=campaign.paused_by.value if campaign.paused_by else None,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            created_at=campaign.created_at,
            updated_at=campaign.updated_at,
        )
    )


def _campaign(r: Any) -> Campaign:
    return Campaign(
        id=r.id,
        organization_id=r.organization_id,
        name=r.name,
        from_number=r.from_number,
        agent_id=r.agent_id,
        agent_version=r.agent_version,
        presentation_number=r.presentation_number,
        scheduled_at=r.scheduled_at,
        window=_windows(r),
        concurrency=r.concurrency,
        retry=RetryRule.from_json(r.retry),
        status=CampaignStatus(r.status),
        paused_by=PausedBy(r.paused_by) if r.paused_by else None,
        created_at=r.created_at,
        updated_at=r.updated_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


def _windows(r: Any) -> Windows:
    if r.windows is None:
        return Windows((CallingWindow(r.timezone, r.window_start_min, r.window_end_min, r.window_days),))
    return Windows.from_json(r.timezone, r.windows)


def get(conn: Connection, organization_id: str, campaign_id: str) -> Campaign | None:
    row = conn.execute(
        select(campaigns).where(campaigns.c.organization_id == organization_id, campaigns.c.id == campaign_id)
    ).first()
    return _campaign(row) if row is not None else None


def by_key(conn: Connection, organization_id: str, key: str) -> tuple[Campaign, str | None] | None:
    """The campaign an earlier create with this Idempotency-Key made, and its fingerprint."""
    row = conn.execute(
        select(campaigns).where(
            campaigns.c.organization_id == organization_id, campaigns.c.idempotency_key == key
        )
    ).first()
    return (_campaign(row), row.fingerprint) if row is not None else None


def page(
    conn: Connection, organization_id: str, limit: int, before: tuple[int, str] | None
) -> list[Campaign]:
    """Newest first; `before` is the (created_at, id) the previous page ended with."""
    query = select(campaigns).where(campaigns.c.organization_id == organization_id)
    if before is not None:
        created, cid = before
        query = query.where(
            (campaigns.c.created_at < created) | and_(campaigns.c.created_at == created, campaigns.c.id < cid)
        )
    query = query.order_by(campaigns.c.created_at.desc(), campaigns.c.id.desc()).limit(limit)
    return [_campaign(r) for r in conn.execute(query)]


def feedable(conn: Connection) -> list[tuple[str, str]]:
    """(organisation, campaign) of every campaign the feeder must look at: it may start, runs,
    is paused (its ended calls are still settled), or was canceled with calls still live
    (`finished_at` is set when the last one is settled). Campaigns are few next to calls: this
    reads the small campaigns table, not the tasks."""
    wanted = [s.value for s in CampaignStatus if s.feeds] + [CampaignStatus.PAUSED.value]
    rows = conn.execute(
        select(campaigns.c.organization_id, campaigns.c.id).where(
            campaigns.c.status.in_(wanted)
            | and_(campaigns.c.status == CampaignStatus.CANCELED.value, campaigns.c.finished_at.is_(None))
        )
    ).all()
    return [(r.organization_id, r.id) for r in rows]


def lock(conn: Connection, organization_id: str, campaign_id: str, *, wait: bool) -> Campaign | None:
    """The campaign, locked for this transaction on PostgreSQL (None if another holds it and
    `wait` is False, or it does not exist)."""
    query = select(campaigns).where(
        campaigns.c.organization_id == organization_id, campaigns.c.id == campaign_id
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=not wait)
    row = conn.execute(query).first()
    return _campaign(row) if row is not None else None


def set_status(
    conn: Connection,
    campaign: Campaign,
    new: CampaignStatus,
    now: int,
    *,
    paused_by: PausedBy | None = None,
    **values: Any,
) -> bool:
    """Move the campaign from the status it was read in (a conditional update)."""
    result = conn.execute(
        update(campaigns)
        .where(
            campaigns.c.organization_id == campaign.organization_id,
            campaigns.c.id == campaign.id,
            campaigns.c.status == campaign.status.value,
        )
        .values(
            status=new.value,
            paused_by=paused_by.value if paused_by else None,
            updated_at=now,
            **values,
        )
    )
    return bool(result.rowcount)


def live_calls(conn: Connection, organization_id: str, campaign_id: str) -> int:
    query = select(func.count()).where(
        calls.c.organization_id == organization_id,
        calls.c.campaign_id == campaign_id,
        calls.c.status.in_(_LIVE),
    )
    return int(conn.execute(query).scalar_one())


def queued_call_ids(conn: Connection, organization_id: str, campaign_id: str) -> list[str]:
    query = select(calls.c.id).where(
        calls.c.organization_id == organization_id,
        calls.c.campaign_id == campaign_id,
        calls.c.status == CallStatus.QUEUED.value,
    )
    return list(conn.execute(query).scalars())


def set_calls_due(conn: Connection, organization_id: str, campaign_id: str, due_at: int, now: int) -> int:
    """Pause (due at the end of time) or resume (due now) the campaign's queued calls."""
    return conn.execute(
        update(calls)
        .where(
            calls.c.organization_id == organization_id,
            calls.c.campaign_id == campaign_id,
            calls.c.status == CallStatus.QUEUED.value,
        )
        .values(due_at=due_at, updated_at=now)
    ).rowcount


def gates(conn: Connection, organization_id: str, campaign_ids: Iterable[str]) -> dict[str, Gate]:
    """What the dispatcher checks for a campaign's call at dial time."""
    wanted = sorted(set(campaign_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        select(
            campaigns.c.id,
            campaigns.c.status,
            campaigns.c.timezone,
            campaigns.c.window_start_min,
            campaigns.c.window_end_min,
            campaigns.c.window_days,
            campaigns.c.windows,
        ).where(campaigns.c.organization_id == organization_id, campaigns.c.id.in_(wanted))
    ).all()
    return {
        r.id: Gate(
            CampaignStatus(r.status) is not CampaignStatus.ONGOING,
            _windows(r),
        )
        for r in rows
    }


def reason_of(value: str | None) -> DisconnectionReason | None:
    return DisconnectionReason(value) if value else None
