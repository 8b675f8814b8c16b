"""Domain `Call` → Zudu's call objects and response envelope. Choices: see `zudu/__init__.py`."""

from __future__ import annotations

from typing import Any

from callplane.api.dialects.retell import render as retell
from callplane.domain.call import Call, CallStatus, CallType

STATUS: dict[CallStatus, str] = {
    CallStatus.QUEUED: "REGISTERED",
    CallStatus.DIALING: "ONGOING",
    CallStatus.RINGING: "ONGOING",
    CallStatus.ONGOING: "ONGOING",
    CallStatus.ENDED: "ENDED",
    CallStatus.NOT_CONNECTED: "ENDED",
    CallStatus.ERROR: "ERROR",
    CallStatus.CANCELED: "ENDED",
}
#: Zudu runs a Retell call model: its reasons are Retell's, upper-cased (`USER_HANGUP`).
REASON = {internal: vendor.upper() for internal, vendor in retell.REASON.items()}


def envelope(message: str, data: Any) -> dict[str, Any]:
    return {"message": message, "status": "success", "error": None, "data": data}


def call_type(call: Call) -> str:
    return "WEB_CALL" if call.call_type is CallType.WEB else "PHONE_CALL"


def summary(call: Call) -> dict[str, Any]:
    """A list item (seed 002's `calls[]`), plus `created_at` from Zudu's list docs."""
    return {
        "id": call.id,
        "call_id": call.id,
        "agent_id": call.agent.agent_id,
        "organization_id": call.organization_id,
        "call_status": STATUS[call.status],
        "call_type": call_type(call),
        "direction": call.direction.value.upper(),
        "from_number": call.from_number,
        "to_number": call.to_number,
        "start_timestamp": call.start_at,
        "end_timestamp": call.end_at,
        "call_duration": call.duration_ms,
        "created_at": call.created_at,
    }


def _analysis(call: Call) -> dict[str, Any] | None:
    found = retell.analysis(call)
    if found is None:
        return None
    return {
        "call_successful": found["call_successful"],
        "call_summary": found["call_summary"],
        "user_sentiment": found["user_sentiment"],
        "in_voicemail": found["in_voicemail"],
        "custom_analysis_data": found["custom_analysis_data"],
    }


def detail(call: Call) -> dict[str, Any]:
    """`GET /api/calls/{id}`: the list item and everything else Zudu's call object carries."""
    body = summary(call)
    entries = None if call.opt_out_sensitive_data_storage else (call.transcript or [])
    retell_view = retell.call_object(call)
    body.update(
        {
            "updated_at": call.updated_at,
            "agent_version": call.agent.version,
            "metadata": call.metadata,
            "dynamic_variables": call.dynamic_variables,
            # callplane keeps no per-call event timeline in this shape (webhook deliveries are
            # logged separately); the list is present and empty, as in Zudu's examples.
            "events": [],
            "disconnection_reason": REASON[call.disconnection_reason] if call.disconnection_reason else None,
            "recording_url": None if call.opt_out_sensitive_data_storage else call.recording_url,
            "public_log_url": None,
            "opt_out_sensitive_data_storage": call.opt_out_sensitive_data_storage,
            "transcript": None if entries is None else retell.transcript_text(entries),
            "transcript_object": retell_view.get("transcript_object"),
            "transcript_with_tool_calls": retell_view.get("transcript_with_tool_calls"),
            "latency": None,
            "call_analysis": _analysis(call),
            "call_cost": {"combined_cost": call.cost_minor} if call.cost_minor is not None else None,
            "telephony_identifier": (
                {"call_sid": call.telephony_id, "conference_sid": None} if call.telephony_id else None
            ),
        }
    )
    return body


def created(call: Call) -> dict[str, Any]:
    """`data` of `POST /api/calls/create-phone-call`, as Zudu documents it."""
    return {
        "organization_id": call.organization_id,
        "call_type": "phone_call",
        "status": "call_initiated",
        "call": summary(call),
        "phone_call_info": {
            "from_number": call.from_number,
            "to_number": call.to_number,
            "direction": call.direction.value,
            "call_status": STATUS[call.status].lower(),
        },
    }
