"""Vox response shapes, for the OpenAPI document (handlers return pre-rendered JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class AgentOut(BaseModel):
    agent_id: str
    agent_version: str


class AnalysisOut(BaseModel):
    summary: str | None
    user_sentiment: str | None
    custom_analysis_data: list[dict[str, Any]]


class CostV3Out(BaseModel):
    total_cost: str


class CallV3Out(BaseModel):
    id: str
    agent: AgentOut
    call_type: str
    status: str
    from_number: str | None
    to_number: str | None
    presentation_number: str | None
    disconnection_reason: str | None
    start_at: int | None
    end_at: int | None
    recording_url: str | None
    metadata: dict[str, Any]
    dynamic_variables: dict[str, Any]
    call_analysis: AnalysisOut | None
    call_cost: CostV3Out | None
    variant_label: str | None
    campaign_id: str | None  #: callplane: the campaign this call was made for
    opt_out_sensitive_data_storage: bool
    transcript: list[dict[str, Any]] | None = None


class CallListV3Out(BaseModel):
    items: list[CallV3Out]
    total_count: int | None
    next_cursor: str | None


class CostV2Out(BaseModel):
    total_credits_used: float
    duration_seconds: float


class CallV2Out(BaseModel):
    call_id: str
    agent_id: str
    agent_version: str
    call_type: str
    status: str
    call_from: str | None
    call_to: str | None
    dynamic_variables: dict[str, Any]
    metadata: dict[str, Any]
    disconnection_reason: str | None
    start_timestamp: int | None
    end_timestamp: int | None
    duration_ms: int | None
    transcript: list[dict[str, Any]] | None
    transcript_with_tool_calls: list[dict[str, Any]] | None
    recording_url: str | None
    call_cost: CostV2Out | None
    call_analysis: AnalysisOut | None
    campaign_id: str | None  #: callplane: the campaign this call was made for
    opt_out_sensitive_data_storage: bool


class CallListV2Out(BaseModel):
    calls: list[CallV2Out]
    next_cursor: str | None
    total_count: int | None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in {
        400: "Invalid input (VALIDATION_ERROR, with the field and the allowed values)",
        401: "Missing or invalid API key",
        404: "No such call in this organization",
    }.items()
}
