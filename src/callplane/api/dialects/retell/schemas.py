"""Retell response shapes, for the OpenAPI document: what `render.call_object` returns (the
handlers return it pre-rendered; `tests/api/test_openapi.py` validates the served bodies).

Keys that `call_object` writes only for some calls — a phone call's numbers, a campaign's
`batch_call_id`, the transcript of a single call — are optional here: absent, never null."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class RetellWordOut(BaseModel):
    word: str
    start: float  #: seconds from the call's start
    end: float


class RetellUtteranceOut(BaseModel):
    role: Literal["agent", "user"]
    content: str
    words: list[RetellWordOut]


class RetellToolInvocationOut(BaseModel):
    role: Literal["tool_call_invocation"]
    tool_call_id: str
    name: str
    arguments: str  #: JSON text


class RetellToolResultOut(BaseModel):
    role: Literal["tool_call_result"]
    tool_call_id: str
    content: str


class RetellNodeTransitionOut(BaseModel):
    role: Literal["node_transition"]
    former_node_id: str
    former_node_name: str
    new_node_id: str
    new_node_name: str


#: One entry of `transcript_with_tool_calls` (Zudu's call object carries the same list).
TranscriptEntryOut = (
    RetellUtteranceOut | RetellToolInvocationOut | RetellToolResultOut | RetellNodeTransitionOut
)


class RetellAnalysisOut(BaseModel):
    call_summary: str | None
    user_sentiment: Literal["Positive", "Neutral", "Negative", "Unknown"] | None
    call_successful: bool | None
    in_voicemail: bool | None
    custom_analysis_data: dict[str, Any]


class RetellProductCostOut(BaseModel):
    product: str
    cost: int
    unit_price: float


class RetellCostOut(BaseModel):
    combined_cost: int  #: in 1/100 KRW
    product_costs: list[RetellProductCostOut]
    total_duration_seconds: int
    total_duration_unit_price: float


class RetellTelephonyIdOut(BaseModel):
    twilio_call_sid: str


class RetellCallOut(BaseModel):
    call_id: str
    call_type: Literal["phone_call", "web_call"]
    agent_id: str
    agent_version: int
    call_status: Literal["registered", "ongoing", "ended", "not_connected", "error"]
    metadata: dict[str, Any]
    retell_llm_dynamic_variables: dict[str, str]
    data_storage_setting: Literal["everything", "basic_attributes_only"]
    start_timestamp: int | None
    end_timestamp: int | None
    duration_ms: int | None
    disconnection_reason: str | None
    recording_url: str | None
    call_analysis: RetellAnalysisOut | None
    call_cost: RetellCostOut | None
    batch_call_id: str | None = None  #: present for a call made by a batch call
    # Present for phone calls:
    direction: Literal["inbound", "outbound"] | None = None
    from_number: str | None = None
    to_number: str | None = None
    telephony_identifier: RetellTelephonyIdOut | None = None  #: a Twilio line's calls only
    # Present on a single call (not in list-calls v3 items); null when storage is opted out:
    transcript: str | None = None
    transcript_object: list[RetellUtteranceOut] | None = None
    transcript_with_tool_calls: list[TranscriptEntryOut] | None = None


class RetellCallListOut(BaseModel):
    items: list[RetellCallOut]
    has_more: bool
    pagination_key: str | None = None  #: present when there is a next page
    total: int | None = None  #: present when `include_total` was asked
    total_is_estimated: bool | None = None  #: callplane's: whether `total` is an estimate
