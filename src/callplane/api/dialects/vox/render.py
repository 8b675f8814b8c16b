"""Domain `Call` → Vox v3 and v2 JSON.

Mapping choices (Vox documents neither dialing nor ringing in v3):
- v3 `status`: `queued`, `dialing` and `ringing` render as `queued` (not yet connected);
  the rest keep their names.
- v2 `status`: `queued`; `dialing` and `ringing` as `ringing` ("발신 중"); the rest as is.
- `disconnection_reason`: callplane's reasons outside Vox's 17 (`suppressed`, `canceled_by_user`)
  render as null; the status (`canceled`) already says what happened.
- v3 `call_type` has no test types: `unit_test`/`scenario_test` render as `api`.
- Numbers: Korean domestic digits (`01012345678`); a number outside Korea stays E.164.
- `agent.agent_version` echoes what the client asked for (`current`, `production`, `v3`).
- Transcript `start_at`/`end_at` are Unix ms, like every other Vox time.
- v2 `call_cost.total_credits_used` is the KRW cost as a number (one credit = 1 KRW);
  `duration_seconds` is the billed talk time.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from callplane.domain.call import Call, CallStatus, CallType, TranscriptEntry
from callplane.domain.money import billable_seconds, format_krw, from_minor
from callplane.domain.phone import to_domestic

V3_STATUS = {
    CallStatus.QUEUED: "queued",
    CallStatus.DIALING: "queued",
    CallStatus.RINGING: "queued",
    CallStatus.ONGOING: "ongoing",
    CallStatus.ENDED: "ended",
    CallStatus.NOT_CONNECTED: "not_connected",
    CallStatus.ERROR: "error",
    CallStatus.CANCELED: "canceled",
}
V2_STATUS = {**V3_STATUS, CallStatus.DIALING: "ringing", CallStatus.RINGING: "ringing"}
V3_CALL_TYPES = ("web", "phone", "inbound", "outbound", "api")


def _number(value: str | None) -> str | None:
    return to_domestic(value) if value else None


def _reason(call: Call) -> str | None:
    reason = call.disconnection_reason
    return reason.value if reason is not None and reason.is_vox else None


def _analysis(call: Call) -> dict[str, Any] | None:
    if call.analysis is None or call.opt_out_sensitive_data_storage:
        return None
    a = call.analysis
    return {
        "summary": a.summary,
        "user_sentiment": a.user_sentiment.value if a.user_sentiment else None,
        "custom_analysis_data": a.custom_analysis_data,
    }


def _transcript(call: Call) -> list[TranscriptEntry] | None:
    if call.opt_out_sensitive_data_storage:
        return None
    return call.transcript or []


def _v3_entry(entry: TranscriptEntry) -> TranscriptEntry | None:
    role = entry.get("role")
    if role in ("agent", "user"):
        return {
            "role": role,
            "content": entry.get("content", ""),
            "start_at": entry.get("start_at"),
            "end_at": entry.get("end_at"),
        }
    if role == "tool_call_invocation":
        return {
            "role": role,
            "tool_call_id": entry["tool_call_id"],
            "name": entry["name"],
            "arguments": entry.get("arguments", {}),
        }
    if role == "tool_call_result":
        return {"role": role, "tool_call_id": entry["tool_call_id"], "content": entry.get("content", "")}
    return None  # node transitions are not part of Vox's transcript


def v3_call(call: Call, *, with_transcript: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": call.id,
        "agent": {"agent_id": call.agent.agent_id, "agent_version": call.agent.requested_version},
        "call_type": call.call_type.value if call.call_type.value in V3_CALL_TYPES else CallType.API.value,
        "status": V3_STATUS[call.status],
        "from_number": _number(call.from_number),
        "to_number": _number(call.to_number),
        "presentation_number": _number(call.presentation_number),
        "disconnection_reason": _reason(call),
        "start_at": call.start_at,
        "end_at": call.end_at,
        "recording_url": None if call.opt_out_sensitive_data_storage else call.recording_url,
        "metadata": call.metadata,
        "dynamic_variables": call.dynamic_variables,
        "call_analysis": _analysis(call),
        "call_cost": {"total_cost": format_krw(call.cost_minor)} if call.cost_minor is not None else None,
        "variant_label": call.variant_label,
        "campaign_id": call.campaign_id,
        "opt_out_sensitive_data_storage": call.opt_out_sensitive_data_storage,
    }
    if with_transcript:
        transcript = _transcript(call)
        body["transcript"] = (
            None if transcript is None else [e for e in map(_v3_entry, transcript) if e is not None]
        )
    return body


def _v2_entries(transcript: list[TranscriptEntry]) -> tuple[list[TranscriptEntry], list[TranscriptEntry]]:
    """`transcript` (utterances only) and `transcript_with_tool_calls`, sharing the utterances'
    dicts: a long call's transcript is most of a v2 page's rendering time."""
    full = [e for e in map(_v3_entry, transcript) if e is not None]
    return [e for e in full if e["role"] in ("agent", "user")], full


# A stored transcript of utterances only, each exactly `{role, content, start_at, end_at}` with
# integer (or null) times: what `_v2_entries` would build from it is the stored text itself, for
# both lists. In the two forms the databases return it in: SQLite the text as written (orjson,
# compact, keys in that order); PostgreSQL jsonb's text form (its own key order, spaced).
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_ROLE = r'"(?:agent|user)"'
_TIME = r"(?:-?[0-9]+|null)"
_COMPACT = rf'\{{"role":{_ROLE},"content":{_STRING},"start_at":{_TIME},"end_at":{_TIME}\}}'
_JSONB = rf'\{{"role": {_ROLE}, "end_at": {_TIME}, "content": {_STRING}, "start_at": {_TIME}\}}'
_UTTERANCES = re.compile(rf"\[(?:{_COMPACT}(?:,{_COMPACT})*)?\]|\[(?:{_JSONB}(?:, {_JSONB})*)?\]")


def _v2_transcripts(call: Call) -> tuple[Any, Any]:
    """`transcript` and `transcript_with_tool_calls`: the stored text passed through when it is
    already what they would be (`_UTTERANCES`), else built from the entries."""
    if call.opt_out_sensitive_data_storage:
        return None, None
    stored = call.transcript_json
    if stored is not None and _UTTERANCES.fullmatch(stored):
        same = orjson.Fragment(stored)
        return same, same
    return _v2_entries(call.transcript or [])


def v2_call(call: Call) -> dict[str, Any]:
    spoken, full = _v2_transcripts(call)
    talk_ms = 0
    if call.answered_at is not None and call.end_at is not None:
        talk_ms = call.end_at - call.answered_at
    return {
        "call_id": call.id,
        "agent_id": call.agent.agent_id,
        "agent_version": call.agent.requested_version,
        "call_type": call.call_type.value,
        "status": V2_STATUS[call.status],
        "call_from": _number(call.from_number),
        "call_to": _number(call.to_number),
        "dynamic_variables": call.dynamic_variables,
        "metadata": call.metadata,
        "disconnection_reason": _reason(call),
        "start_timestamp": call.start_at,
        "end_timestamp": call.end_at,
        "duration_ms": call.duration_ms,
        "transcript": spoken,
        "transcript_with_tool_calls": full,
        "recording_url": None if call.opt_out_sensitive_data_storage else call.recording_url,
        "call_cost": (
            {
                "total_credits_used": float(from_minor(call.cost_minor)),
                "duration_seconds": billable_seconds(talk_ms),
            }
            if call.cost_minor is not None
            else None
        ),
        "call_analysis": _analysis(call),
        "campaign_id": call.campaign_id,
        "opt_out_sensitive_data_storage": call.opt_out_sensitive_data_storage,
    }
