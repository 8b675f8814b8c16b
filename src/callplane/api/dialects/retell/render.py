"""Domain `Call` → Retell's call object (`PhoneCallResponse` / `WebCallResponse`).

The official `retell-sdk` picks the union member by validating the whole object: a phone call
that misses one required field, or carries one value outside an enum (a lower-case sentiment,
say), is silently parsed as a web call. So every value here is one the SDK's types accept, and
`tests/sdk/test_retell_sdk.py` validates each rendered object against `PhoneCallResponse`.

Mapping choices are listed in the package docstring (`retell/__init__.py`) and in
`docs/dialects.md`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from callplane.domain.call import Call, CallStatus, CallType, DisconnectionReason, Sentiment, TranscriptEntry
from callplane.domain.money import billable_seconds

STATUS: dict[CallStatus, str] = {
    CallStatus.QUEUED: "registered",
    CallStatus.DIALING: "registered",
    CallStatus.RINGING: "registered",
    CallStatus.ONGOING: "ongoing",
    CallStatus.ENDED: "ended",
    CallStatus.NOT_CONNECTED: "not_connected",
    CallStatus.ERROR: "error",
    CallStatus.CANCELED: "not_connected",
}

#: Retell's whole vocabulary (retell-sdk 6.2.13); a filter may name any of them.
RETELL_REASONS = (
    "user_hangup",
    "agent_hangup",
    "user_requested_dnc",
    "user_requested_callback",
    "call_transfer",
    "voicemail_reached",
    "ivr_reached",
    "inactivity",
    "max_duration_reached",
    "concurrency_limit_reached",
    "no_concurrency_fallback",
    "no_valid_payment",
    "credit_exhausted",
    "budget_reached",
    "scam_detected",
    "dial_busy",
    "dial_failed",
    "dial_no_answer",
    "invalid_destination",
    "telephony_provider_permission_denied",
    "telephony_provider_unavailable",
    "sip_routing_error",
    "marked_as_spam",
    "network_blocked",
    "user_declined",
    "error_llm_websocket_open",
    "error_llm_websocket_lost_connection",
    "error_llm_websocket_runtime",
    "error_llm_websocket_corrupt_payload",
    "error_no_audio_received",
    "error_asr",
    "error_retell",
    "error_unknown",
    "error_user_not_joined",
    "registered_call_timeout",
    "transfer_bridged",
    "transfer_cancelled",
    "manual_stopped",
    "call_take_over",
)

#: Internal reason → Retell reason. Every internal reason has one (Retell's list is longer).
REASON: dict[DisconnectionReason, str] = {
    DisconnectionReason.USER_HANGUP: "user_hangup",
    DisconnectionReason.AGENT_HANGUP: "agent_hangup",
    DisconnectionReason.DIAL_NO_ANSWER: "dial_no_answer",
    DisconnectionReason.DIAL_FAILED: "dial_failed",
    DisconnectionReason.DIAL_BUSY: "dial_busy",
    DisconnectionReason.VOICEMAIL_REACHED: "voicemail_reached",
    DisconnectionReason.CONCURRENCY_LIMIT_REACHED: "concurrency_limit_reached",
    DisconnectionReason.INSUFFICIENT_BALANCE: "credit_exhausted",
    DisconnectionReason.ERROR_VOXAI: "error_unknown",
    DisconnectionReason.MAX_DURATION_REACHED: "max_duration_reached",
    DisconnectionReason.INACTIVITY: "inactivity",
    DisconnectionReason.FLOW_ERROR: "error_unknown",
    DisconnectionReason.CALL_TRANSFER: "call_transfer",
    DisconnectionReason.ORPHANED_NO_AGENT_PICKUP: "registered_call_timeout",
    DisconnectionReason.DIAL_DECLINED: "user_declined",
    DisconnectionReason.DAILY_CALL_LIMIT_REACHED: "budget_reached",
    DisconnectionReason.HOURLY_CALL_LIMIT_REACHED: "budget_reached",
    DisconnectionReason.SUPPRESSED: "user_requested_dnc",
    DisconnectionReason.CANCELED_BY_USER: "manual_stopped",
}

SENTIMENT: dict[Sentiment, str] = {
    Sentiment.POSITIVE: "Positive",
    Sentiment.NEUTRAL: "Neutral",
    Sentiment.NEGATIVE: "Negative",
    Sentiment.UNKNOWN: "Unknown",
}

TWILIO_SID = re.compile(r"CA[0-9a-f]{32}")
#: The `product` of callplane's single cost line (callplane prices talk time only).
COST_PRODUCT = "callplane_talk_time"


def call_type(call: Call) -> str:
    """Retell knows web calls and phone calls; every callplane type but `web` is a phone call."""
    return "web_call" if call.call_type is CallType.WEB else "phone_call"


def transcript_text(transcript: list[TranscriptEntry]) -> str:
    """Retell's plain transcript: one `Agent: …` / `User: …` line per utterance."""
    lines = []
    for entry in transcript:
        role = entry.get("role")
        if role in ("agent", "user") and entry.get("content"):
            lines.append(f"{'Agent' if role == 'agent' else 'User'}: {entry['content']}")
    return "\n".join(lines) + ("\n" if lines else "")


def _utterance(entry: TranscriptEntry, origin_ms: int | None) -> dict[str, Any]:
    # Word timings exist where a transcriber gave them (audio calls); Retell counts them in
    # seconds from the call's start. `words` is required by Retell's types, so it is at least [].
    words = [
        {
            "word": w["word"],
            "start": (w["start_at"] - origin_ms) / 1000,
            "end": (w["end_at"] - origin_ms) / 1000,
        }
        for w in entry.get("words", [])
        if origin_ms is not None
    ]
    return {"role": entry["role"], "content": str(entry.get("content", "")), "words": words}


def _with_tools(entry: TranscriptEntry, origin_ms: int | None) -> dict[str, Any] | None:
    role = entry.get("role")
    if role in ("agent", "user"):
        return _utterance(entry, origin_ms)
    if role == "tool_call_invocation":
        arguments = entry.get("arguments", {})
        return {
            "role": role,
            "tool_call_id": str(entry.get("tool_call_id", "")),
            "name": str(entry.get("name", "")),
            # Retell carries tool arguments as a JSON string.
            "arguments": arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode(),
        }
    if role == "tool_call_result":
        return {
            "role": role,
            "tool_call_id": str(entry.get("tool_call_id", "")),
            "content": str(entry.get("content", "")),
        }
    if role == "node_transition":
        # callplane's flow nodes have one name, used as both Retell's node id and node name.
        former, new = str(entry.get("from", "")), str(entry.get("to", ""))
        return {
            "role": role,
            "former_node_id": former,
            "former_node_name": former,
            "new_node_id": new,
            "new_node_name": new,
        }
    return None


def string_variables(values: dict[str, Any]) -> dict[str, str]:
    """Retell's dynamic variables are strings; other JSON values (set through Vox) as JSON text."""
    return {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in values.items()}


def analysis(call: Call) -> dict[str, Any] | None:
    if call.analysis is None or call.opt_out_sensitive_data_storage:
        return None
    a = call.analysis
    return {
        "call_summary": a.summary,
        "user_sentiment": SENTIMENT[a.user_sentiment] if a.user_sentiment else None,
        "call_successful": a.call_successful,
        "in_voicemail": a.in_voicemail,
        # callplane keeps `[{name, value}]`; Retell's custom data is one object.
        "custom_analysis_data": {
            str(item.get("name")): item.get("value") for item in a.custom_analysis_data if "name" in item
        },
    }


def talk_ms(call: Call) -> int:
    if call.answered_at is not None and call.end_at is not None:
        return max(0, call.end_at - call.answered_at)
    return 0


def cost(call: Call) -> dict[str, Any] | None:
    """Retell's cost in its currency's minor unit. callplane's currency is KRW: 1/100 KRW units."""
    if call.cost_minor is None:
        return None
    seconds = billable_seconds(talk_ms(call))
    per_second = call.cost_minor / seconds if seconds else 0.0
    return {
        "combined_cost": call.cost_minor,
        "product_costs": [{"product": COST_PRODUCT, "cost": call.cost_minor, "unit_price": per_second}],
        "total_duration_seconds": seconds,
        "total_duration_unit_price": per_second,
    }


def call_object(call: Call, *, with_transcript: bool = True) -> dict[str, Any]:
    kind = call_type(call)
    body: dict[str, Any] = {
        "call_id": call.id,
        "call_type": kind,
        "agent_id": call.agent.agent_id,
        "agent_version": call.agent.version,
        "call_status": STATUS[call.status],
        "metadata": call.metadata,
        "retell_llm_dynamic_variables": string_variables(call.dynamic_variables),
        "data_storage_setting": (
            "basic_attributes_only" if call.opt_out_sensitive_data_storage else "everything"
        ),
        "start_timestamp": call.start_at,
        "end_timestamp": call.end_at,
        "duration_ms": call.duration_ms,
        "disconnection_reason": (
            REASON[call.disconnection_reason] if call.disconnection_reason is not None else None
        ),
        "recording_url": None if call.opt_out_sensitive_data_storage else call.recording_url,
        "call_analysis": analysis(call),
        "call_cost": cost(call),
    }
    if call.campaign_id is not None:
        body["batch_call_id"] = call.campaign_id  # the batch (a campaign) this call was made for
    if kind == "phone_call":
        body["direction"] = call.direction.value
        body["from_number"] = call.from_number or ""
        body["to_number"] = call.to_number or ""
        if call.telephony_id is not None and TWILIO_SID.fullmatch(call.telephony_id):
            # Retell's identifier names Twilio; another line's id (the simulator's `sim-…`) is
            # not a Twilio call SID, so it is left out rather than mislabelled.
            body["telephony_identifier"] = {"twilio_call_sid": call.telephony_id}
    if with_transcript and call.transcript_loaded:
        entries = None if call.opt_out_sensitive_data_storage else (call.transcript or [])
        body["transcript"] = None if entries is None else transcript_text(entries)
        body["transcript_object"] = (
            None
            if entries is None
            else [_utterance(e, call.start_at) for e in entries if e.get("role") in ("agent", "user")]
        )
        body["transcript_with_tool_calls"] = (
            None
            if entries is None
            else [x for e in entries if (x := _with_tools(e, call.start_at)) is not None]
        )
    return body
