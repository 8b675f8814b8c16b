"""Zudu response shapes, for the OpenAPI document: the envelope `render.envelope` wraps around
`render.summary` (list items), `render.detail` (get) and `render.created` (create) — the handlers
return them pre-rendered; `tests/api/test_openapi.py` validates the served bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from callplane.api.dialects.retell.schemas import RetellAnalysisOut, RetellUtteranceOut, TranscriptEntryOut

ZuduStatus = Literal["REGISTERED", "ONGOING", "ENDED", "ERROR"]


class ZuduCallSummaryOut(BaseModel):
    id: str
    call_id: str
    agent_id: str
    organization_id: str
    call_status: ZuduStatus
    call_type: Literal["PHONE_CALL", "WEB_CALL"]
    direction: Literal["INBOUND", "OUTBOUND"]
    from_number: str | None
    to_number: str | None
    start_timestamp: int | None
    end_timestamp: int | None
    call_duration: int | None
    created_at: int


class ZuduCostOut(BaseModel):
    combined_cost: int  #: in 1/100 KRW


class ZuduTelephonyIdOut(BaseModel):
    call_sid: str
    conference_sid: str | None


class ZuduCallDetailOut(ZuduCallSummaryOut):
    updated_at: int
    agent_version: int
    metadata: dict[str, Any]
    dynamic_variables: dict[str, Any]
    events: list[dict[str, Any]]
    disconnection_reason: str | None
    recording_url: str | None
    public_log_url: str | None
    opt_out_sensitive_data_storage: bool
    transcript: str | None
    transcript_object: list[RetellUtteranceOut] | None
    transcript_with_tool_calls: list[TranscriptEntryOut] | None
    latency: dict[str, Any] | None
    call_analysis: RetellAnalysisOut | None  #: Zudu runs Retell's call model: the same analysis
    call_cost: ZuduCostOut | None
    telephony_identifier: ZuduTelephonyIdOut | None


class ZuduPaginationOut(BaseModel):
    page: int
    limit: int
    total_count: int
    total_pages: int
    has_next_page: bool
    has_previous_page: bool
    total_is_estimated: bool  #: callplane's: true when total_count is a lower bound


class ZuduCallListOut(BaseModel):
    organization_id: str
    calls: list[ZuduCallSummaryOut]
    pagination: ZuduPaginationOut
    returned_count: int
    sort_order: str
    sort_by: str
    applied_filters: dict[str, Any]


class ZuduPhoneCallInfoOut(BaseModel):
    from_number: str | None
    to_number: str | None
    direction: Literal["inbound", "outbound"]
    call_status: Literal["registered", "ongoing", "ended", "error"]


class ZuduCreatedOut(BaseModel):
    organization_id: str
    call_type: Literal["phone_call"]
    status: Literal["call_initiated"]
    call: ZuduCallSummaryOut
    phone_call_info: ZuduPhoneCallInfoOut


class _Envelope(BaseModel):
    message: str
    status: Literal["success"]
    error: None


class ZuduCallListEnvelope(_Envelope):
    data: ZuduCallListOut


class ZuduCallEnvelope(_Envelope):
    data: ZuduCallDetailOut


class ZuduCreatedEnvelope(_Envelope):
    data: ZuduCreatedOut
