"""`POST /admin/v1/campaigns/import`: a campaign from an uploaded CSV file, read exactly as the
CLI's `campaigns create --csv` reads it (`engine.services.campaign_import`).

The request body is the file itself (`Content-Type: text/csv`, UTF-8); the options are query
parameters: `from_number` and `name` (required), `agent_id`, `agent_version`,
`presentation_number`, `concurrency`, `window` (`HH:MM-HH:MM`, repeat for more windows), `days`
(ISO weekdays, `1234567`), `timezone`, `scheduled_at` (ms), `attempts`, `retry_after_min`,
`retry_on` (repeatable disconnection reasons) and `dry_run`.

The answer names every rejected row with its file line, field and reason, and the totals:
`{dry_run, accepted, rejected_count, rejected[{row, line, field, reason}], replayed, campaign}`.
A dry run (200) creates nothing and `campaign` is null; a real run (201) creates the campaign
with the rows that pass (the Vox v3 campaign object). Uploading the same file with the same
options again creates nothing and answers the first campaign (200, `replayed: true`). An upload
takes at most `bounds.MAX_CAMPAIGN_TASKS` rows and `CALLPLANE_MAX_BODY_BYTES` bytes, like any
campaign create through the API; the CLI loads a larger file.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from callplane.api.deps import CallsWrite, ServicesDep
from callplane.api.dialects.vox.campaign_schemas import CampaignV3Out
from callplane.api.dialects.vox.campaigns import render
from callplane.api.dialects.vox.errors import VoxRoute
from callplane.api.responses import JSON
from callplane.domain import bounds
from callplane.domain.call import DisconnectionReason
from callplane.domain.campaign import RETRYABLE
from callplane.domain.org import ALL_DAYS
from callplane.engine.services.campaign_import import ImportOptions, import_csv, line
from callplane.engine.services.campaigns import CampaignService

router = APIRouter(prefix="/admin/v1", route_class=VoxRoute, tags=["Admin"])


class ImportQuery(BaseModel):
    """The options, named as `ImportOptions` names them (`window` is repeatable)."""

    model_config = ConfigDict(extra="forbid")
    from_number: str
    name: str = Field(min_length=1)
    agent_id: str | None = None
    agent_version: str = "current"
    presentation_number: str | None = None
    concurrency: int = 1
    window: list[str] = Field(default_factory=lambda: ["08:00-20:00"])
    days: str = ALL_DAYS
    timezone: str = "Asia/Seoul"
    scheduled_at: int | None = Field(default=None, ge=0, le=bounds.MAX_UNIX_MS)
    attempts: int = 1
    retry_after_min: int = 60
    retry_on: list[DisconnectionReason] = Field(default_factory=lambda: list(RETRYABLE))
    dry_run: bool = False


class RejectedRowOut(BaseModel):
    row: int
    line: int
    field: str
    reason: str


class CampaignImportOut(BaseModel):
    dry_run: bool
    accepted: int
    rejected_count: int
    rejected: list[RejectedRowOut]
    replayed: bool
    campaign: CampaignV3Out | None


@router.post(
    "/campaigns/import",
    summary="Create a campaign from a CSV upload (or check it with dry_run)",
    response_model=CampaignImportOut,
    responses={201: {"model": CampaignImportOut, "description": "The campaign, created"}},
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def import_campaign(
    request: Request, org: CallsWrite, services: ServicesDep, query: Annotated[ImportQuery, Query()]
) -> JSON:
    options = ImportOptions(
        **query.model_dump(exclude={"window", "retry_on", "dry_run"}),
        windows=query.window,
        retry_on=tuple(query.retry_on),
    )
    dry_run = query.dry_run
    raw = await request.body()
    service = CampaignService(services.db, services.clock.now_ms)
    # The database work runs off the event loop, like a sync route's.
    checked = await run_in_threadpool(
        import_csv, service, org, raw, options, dry_run=dry_run, max_rows=bounds.MAX_CAMPAIGN_TASKS
    )
    body: dict[str, Any] = {
        "dry_run": dry_run,
        "accepted": checked.accepted,
        "rejected_count": len(checked.rejected),
        "rejected": [
            {"row": p.row, "line": line(p), "field": p.field, "reason": p.reason} for p in checked.rejected
        ],
        "replayed": checked.replayed,
        "campaign": render(checked.view) if checked.view is not None else None,
    }
    created = checked.view is not None and not checked.replayed
    return JSON(body, status_code=201 if created else 200)
