"""Domain `Call` → Vocode's `NormalizedCall` (list items) and `Call` (get, create, end).

The official `vocode-api` SDK validates every response strictly, so each value here is one its
types accept; `tests/sdk/test_vocode_sdk.py` is the judge. Choices: see `vocode/__init__.py`.
"""

from __future__ import annotations

from typing import Any

import orjson

from callplane.api.dialects import common
from callplane.domain.call import Call, CallStatus, DisconnectionReason, TranscriptEntry

STATUS: dict[CallStatus, str] = {
    CallStatus.QUEUED: "not_started",
    CallStatus.DIALING: "in_progress",
    CallStatus.RINGING: "in_progress",
    CallStatus.ONGOING: "in_progress",
    CallStatus.ENDED: "ended",
    CallStatus.NOT_CONNECTED: "ended",
    CallStatus.ERROR: "error",
    CallStatus.CANCELED: "ended",
}
#: Reasons meaning a person never answered (the phone rang out, was declined, or a machine took it).
UNANSWERED = frozenset(
    {
        DisconnectionReason.DIAL_NO_ANSWER,
        DisconnectionReason.DIAL_DECLINED,
        DisconnectionReason.VOICEMAIL_REACHED,
    }
)
#: The only provider Vocode's enum has that callplane's simulated line resembles (it speaks
#: Twilio's REST and Media Streams protocol). The real line is in `callplane_telephony_provider`.
TELEPHONY_PROVIDER = "twilio"
SIMULATED = "simulated"


def stage(call: Call) -> str:
    if call.disconnection_reason is DisconnectionReason.CALL_TRANSFER:
        return "transfer_successful"
    return "picked_up" if common.answered(call) else "created"


def stage_outcome(call: Call) -> str | None:
    """How the stage ended; None while the call runs or after a successful transfer."""
    reason = call.disconnection_reason
    if not call.status.is_terminal or reason is DisconnectionReason.CALL_TRANSFER:
        return None
    if reason is DisconnectionReason.USER_HANGUP:
        return "human_disconnected"
    if common.answered(call) and reason is not DisconnectionReason.VOICEMAIL_REACHED:
        return "bot_disconnected"
    if reason in UNANSWERED:
        return "human_unanswered"
    return "call_did_not_connect"


def human_detection(call: Call) -> str | None:
    if call.disconnection_reason is DisconnectionReason.VOICEMAIL_REACHED:
        return "no_human"
    return "human" if common.answered(call) else None


def error_message(call: Call) -> str | None:
    if call.status is not CallStatus.ERROR:
        return None
    reason = call.disconnection_reason.value if call.disconnection_reason else "error"
    return f"{reason}: {call.error_detail}" if call.error_detail else reason


def transcript_text(call: Call) -> str | None:
    """Vocode's transcript: `BOT: …` / `HUMAN: …` lines (vocode-core's own labels)."""
    if call.opt_out_sensitive_data_storage or not call.transcript_loaded:
        return None
    entries: list[TranscriptEntry] = call.transcript or []
    lines = [
        f"{'BOT' if e['role'] == 'agent' else 'HUMAN'}: {e['content']}"
        for e in entries
        if e.get("role") in ("agent", "user") and e.get("content")
    ]
    return "\n".join(lines)


def context(call: Call) -> dict[str, str | None]:
    """Vocode's `context` is string → string; other JSON values (set through Vox) as JSON text."""
    return {
        k: v if isinstance(v, str) or v is None else orjson.dumps(v).decode()
        for k, v in call.dynamic_variables.items()
    }


def _common(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "user_id": call.organization_id,
        "status": STATUS[call.status],
        "error_message": error_message(call),
        "recording_available": call.recording_key is not None and not call.opt_out_sensitive_data_storage,
        "transcript": transcript_text(call),
        "human_detection_result": human_detection(call),
        # Suppressed numbers are refused at create; a call that exists passed the check.
        "do_not_call_result": False,
        "telephony_id": call.telephony_id,
        "stage": stage(call),
        "stage_outcome": stage_outcome(call),
        "telephony_metadata": None,
        "to_number": call.to_number or "",
        "from_number": call.from_number or "",
        "telephony_provider": TELEPHONY_PROVIDER,
        "agent_phone_number": (call.to_number if call.direction.value == "inbound" else call.from_number)
        or "",
        "hipaa_compliant": call.opt_out_sensitive_data_storage,
        "on_no_human_answer": "hangup",
        "context": context(call),
        "run_do_not_call_detection": True,
        "telephony_account_connection": None,
        "telephony_params": {},
        # callplane additions (Vocode's models allow extra keys):
        "callplane_telephony_provider": SIMULATED,
        "disconnection_reason": call.disconnection_reason.value if call.disconnection_reason else None,
    }


def normalized_call(call: Call) -> dict[str, Any]:
    """A list item: `agent` is the agent's id, times are Unix **seconds** as numbers."""
    body = _common(call)
    body["agent"] = call.agent.agent_id
    body["start_time"] = common.seconds(call.start_at)
    body["end_time"] = common.seconds(call.end_at)
    return body


def agent(call: Call) -> dict[str, Any]:
    """Vocode's `Agent` object. Its required parts that callplane has no counterpart for — the
    prompt object and the TTS voice (the simulated line speaks text) — are placeholders whose
    ids say what they are."""
    agent_id, owner = call.agent.agent_id, call.organization_id
    return {
        "id": agent_id,
        "user_id": owner,
        "prompt": {"id": f"{agent_id}/v{call.agent.version}", "user_id": owner},
        "actions": [],
        "voice": {"id": f"{agent_id}/voice", "user_id": owner, "type": "voice_vocode"},
    }


def full_call(call: Call) -> dict[str, Any]:
    """`GET /v1/calls?id=`, create and end: `agent` is an object, times are ISO 8601 strings."""
    body = _common(call)
    body["agent"] = agent(call)
    body["start_time"] = common.iso(call.start_at)
    body["end_time"] = common.iso(call.end_at)
    return body
