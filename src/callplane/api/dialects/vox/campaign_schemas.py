"""Vox campaign response shapes, for the OpenAPI document (the handlers in `campaigns.py` and
`campaigns_v2.py` return pre-rendered JSON; `tests/api/test_openapi.py` validates what they
serve against these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from callplane.api.dialects.vox.schemas import AgentOut


class CampaignWindowOut(BaseModel):
    start_min: int
    end_min: int
    days: list[str]


class CampaignTimeWindowOut(BaseModel):
    windows: list[CampaignWindowOut]
    timezone: str
    auto_resume: bool


class CampaignRetryOut(BaseModel):
    max_attempts: int
    interval_min: int
    reasons: list[str]


class _CampaignCommon(BaseModel):
    id: str
    name: str
    status: str
    paused_by: str | None
    presentation_number: str | None
    scheduled_at: int | None
    concurrency: int
    call_time_window: CampaignTimeWindowOut
    retry: CampaignRetryOut
    total_calls: int
    completed_calls: int
    failed_calls: int
    in_progress_calls: int
    remaining_calls: int
    active_concurrency: int
    created_at: int
    updated_at: int
    started_at: int | None
    finished_at: int | None


class CampaignV3Out(_CampaignCommon):
    from_number: str
    agent: AgentOut | None


class CampaignV2Out(_CampaignCommon):
    """The v3 object with v2's field names: `call_from`, and the agent flattened."""

    call_from: str
    agent_id: str | None
    agent_version: str | None


class CampaignListV3Out(BaseModel):
    items: list[CampaignV3Out]
    next_cursor: str | None


class CampaignTaskOut(BaseModel):
    task_id: int
    to_number: str
    dynamic_variables: dict[str, Any]
    metadata: dict[str, Any]
    status: str
    attempts: int
    call_ids: list[str]
    last_reason: str | None
    updated_at: int


class CampaignTaskListOut(BaseModel):
    items: list[CampaignTaskOut]
    next_cursor: str | None
