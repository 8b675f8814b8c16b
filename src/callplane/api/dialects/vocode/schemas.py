"""Vocode response shapes, for the OpenAPI document: what `render.normalized_call` (list items)
and `render.full_call` (get, create, end) return (the handlers return them pre-rendered;
`tests/api/test_openapi.py` validates the served bodies)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class _VocodeCallCommon(BaseModel):
    id: str
    user_id: str
    status: Literal["not_started", "in_progress", "ended", "error"]
    error_message: str | None
    recording_available: bool
    transcript: str | None
    human_detection_result: Literal["human", "no_human"] | None
    do_not_call_result: bool
    telephony_id: str | None
    stage: Literal["created", "picked_up", "transfer_successful"]
    stage_outcome: (
        Literal["human_disconnected", "bot_disconnected", "human_unanswered", "call_did_not_connect"] | None
    )
    telephony_metadata: dict[str, Any] | None
    to_number: str
    from_number: str
    telephony_provider: str
    agent_phone_number: str
    hipaa_compliant: bool
    on_no_human_answer: str
    context: dict[str, str | None]
    run_do_not_call_detection: bool
    telephony_account_connection: dict[str, Any] | None
    telephony_params: dict[str, Any]
    callplane_telephony_provider: str  #: callplane's: the line that carried the call
    disconnection_reason: str | None  #: callplane's reason, unmapped


class VocodeNormalizedCallOut(_VocodeCallCommon):
    """A list item: `agent` is the agent's id, times are Unix seconds."""

    agent: str
    start_time: float | None
    end_time: float | None


class VocodePromptOut(BaseModel):
    id: str
    user_id: str


class VocodeVoiceOut(BaseModel):
    id: str
    user_id: str
    type: str


class VocodeAgentOut(BaseModel):
    id: str
    user_id: str
    prompt: VocodePromptOut
    actions: list[Any]
    voice: VocodeVoiceOut


class VocodeCallOut(_VocodeCallCommon):
    """Get, create and end: `agent` is an object, times are ISO 8601 strings."""

    agent: VocodeAgentOut
    start_time: str | None
    end_time: str | None


class VocodeCallPageOut(BaseModel):
    items: list[VocodeNormalizedCallOut]
    page: int
    size: int
    has_more: bool
    total: int
    total_is_estimated: bool  #: callplane's: whether `total` is an estimate
