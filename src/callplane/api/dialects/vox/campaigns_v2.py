"""Vox v2 campaigns: `POST /v2/campaigns`, the v3 create with v2's field names.

v2 names the caller `call_from` and the agent as two top-level fields, `agent_id` and
`agent_version` (api-anchors §1.6); every other field, the checks and the per-row errors are the
v3 create's (`campaigns.py`). The answer is the v3 campaign object with those three fields
renamed. Reading, pausing and cancelling go through the v3 paths: Vox documents no v2 ones.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field

from callplane.api.deps import CallsWrite, ServicesDep
from callplane.api.dialects.common import idempotency_key as checked_key
from callplane.api.dialects.vox import campaigns as v3
from callplane.api.dialects.vox.campaign_schemas import CampaignV2Out
from callplane.api.dialects.vox.errors import VoxRoute
from callplane.api.dialects.vox.parse import AgentMapping
from callplane.api.dialects.vox.schemas import ERRORS
from callplane.api.responses import JSON
from callplane.domain import bounds

router = APIRouter(route_class=VoxRoute, tags=["Vox v2 campaigns"], responses=ERRORS)


class CreateCampaignV2(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: str
    call_from: str
    agent_id: str | None = None
    agent_version: str | None = None
    tasks: list[v3.TaskIn] = Field(min_length=1)
    presentation_number: str | None = None
    scheduled_at: int | None = Field(default=None, ge=0, le=bounds.MAX_UNIX_MS)
    concurrency: int = 1
    call_time_window: v3.TimeWindowIn | None = None
    retry: v3.RetryIn | None = None

    def as_v3(self) -> v3.CreateCampaignV3:
        agent = (
            AgentMapping(agent_id=self.agent_id, agent_version=self.agent_version or "current")
            if self.agent_id is not None
            else None
        )
        return v3.CreateCampaignV3(
            name=self.name,
            from_number=self.call_from,
            agent=agent,
            tasks=self.tasks,
            presentation_number=self.presentation_number,
            scheduled_at=self.scheduled_at,
            concurrency=self.concurrency,
            call_time_window=self.call_time_window,
            retry=self.retry,
        )


def render(campaign: dict[str, Any]) -> dict[str, Any]:
    agent = campaign.pop("agent")
    out = {"call_from": campaign.pop("from_number"), **campaign}
    out["agent_id"] = agent["agent_id"] if agent else None
    out["agent_version"] = agent["agent_version"] if agent else None
    return out


@router.post(
    "/v2/campaigns",
    status_code=201,
    response_model=CampaignV2Out,
    summary="Create a campaign (v2 field names)",
)
def create_campaign(
    body: CreateCampaignV2,
    org: CallsWrite,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSON:
    checked_key(idempotency_key, "Idempotency-Key")
    draft = v3.draft(body.as_v3())
    checked = v3.service(services).create(org, draft, idempotency_key=idempotency_key)
    assert checked.view is not None, "not a dry run"
    headers = {"Idempotent-Replayed": "true"} if checked.replayed else None
    return JSON(render(v3.render(checked.view)), status_code=201, headers=headers)
