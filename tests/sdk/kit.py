"""Calls in every state callplane has, with every field a dialect renders, for the dialect tests.

Stored through the call store (the same code path the engine uses), so the dialects read
exactly what a finished, running or failed call looks like.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from callplane.domain.call import (
    AgentRef,
    Call,
    CallAnalysis,
    CallStatus,
    CallType,
    Direction,
    DisconnectionReason,
    Sentiment,
)
from callplane.domain.ids import new_id
from tests.factories import Tenant, insert_calls

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC

#: The status each disconnection reason ends a call with.
REASON_STATUS: dict[DisconnectionReason, CallStatus] = {
    DisconnectionReason.USER_HANGUP: CallStatus.ENDED,
    DisconnectionReason.AGENT_HANGUP: CallStatus.ENDED,
    DisconnectionReason.INACTIVITY: CallStatus.ENDED,
    DisconnectionReason.MAX_DURATION_REACHED: CallStatus.ENDED,
    DisconnectionReason.CALL_TRANSFER: CallStatus.ENDED,
    DisconnectionReason.DIAL_NO_ANSWER: CallStatus.NOT_CONNECTED,
    DisconnectionReason.DIAL_FAILED: CallStatus.NOT_CONNECTED,
    DisconnectionReason.DIAL_BUSY: CallStatus.NOT_CONNECTED,
    DisconnectionReason.DIAL_DECLINED: CallStatus.NOT_CONNECTED,
    DisconnectionReason.VOICEMAIL_REACHED: CallStatus.NOT_CONNECTED,
    DisconnectionReason.CONCURRENCY_LIMIT_REACHED: CallStatus.ERROR,
    DisconnectionReason.INSUFFICIENT_BALANCE: CallStatus.ERROR,
    DisconnectionReason.ERROR_VOXAI: CallStatus.ERROR,
    DisconnectionReason.FLOW_ERROR: CallStatus.ERROR,
    DisconnectionReason.ORPHANED_NO_AGENT_PICKUP: CallStatus.ERROR,
    DisconnectionReason.DAILY_CALL_LIMIT_REACHED: CallStatus.ERROR,
    DisconnectionReason.HOURLY_CALL_LIMIT_REACHED: CallStatus.ERROR,
    DisconnectionReason.SUPPRESSED: CallStatus.ERROR,
    DisconnectionReason.CANCELED_BY_USER: CallStatus.CANCELED,
}
#: Reasons that end a call someone answered.
CONNECTED_REASONS = frozenset(
    {
        DisconnectionReason.USER_HANGUP,
        DisconnectionReason.AGENT_HANGUP,
        DisconnectionReason.INACTIVITY,
        DisconnectionReason.MAX_DURATION_REACHED,
        DisconnectionReason.CALL_TRANSFER,
        DisconnectionReason.FLOW_ERROR,
    }
)

TRANSCRIPT: list[dict[str, Any]] = [
    {"role": "node_transition", "from": "start", "to": "greet", "at": 0},
    {
        "role": "agent",
        "content": "안녕하세요 홍길동님, 예약 확인차 연락드렸습니다.",
        "start_at": 1000,
        "end_at": 4000,
    },
    {
        "role": "user",
        "content": "예약 변경 하고 싶어요. help support please",
        "start_at": 4500,
        "end_at": 6000,
    },
    {
        "role": "tool_call_invocation",
        "tool_call_id": "t1",
        "name": "reschedule",
        "arguments": {"date": "2026-05-11"},
    },
    {"role": "tool_call_result", "tool_call_id": "t1", "content": "ok"},
    {"role": "agent", "content": "변경해 드렸습니다. 감사합니다.", "start_at": 7000, "end_at": 9000},
]


@dataclass(frozen=True)
class Shape:
    status: CallStatus
    reason: DisconnectionReason | None

    @property
    def answered(self) -> bool:
        return self.status is CallStatus.ONGOING or self.reason in CONNECTED_REASONS


def every_shape() -> list[Shape]:
    """Each non-terminal status once, and each disconnection reason with the status it ends in."""
    running = [
        Shape(s, None)
        for s in (CallStatus.QUEUED, CallStatus.DIALING, CallStatus.RINGING, CallStatus.ONGOING)
    ]
    return running + [Shape(status, reason) for reason, status in REASON_STATUS.items()]


def make_call(
    tenant: Tenant,
    shape: Shape,
    *,
    start_at: int = T0,
    call_type: CallType = CallType.OUTBOUND,
    opt_out: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Call:
    started = shape.status not in (CallStatus.QUEUED, CallStatus.CANCELED)
    terminal = shape.status.is_terminal
    answered_at = start_at + 2000 if shape.answered else None
    end_at = (start_at + 62_000 if shape.answered else start_at + 30_000) if terminal and started else None
    if shape.status is CallStatus.CANCELED:
        end_at = start_at
    connected_and_done = shape.answered and terminal
    return Call(
        id=new_id(),
        organization_id=tenant.organization_id,
        agent=AgentRef(tenant.agent_id, "current", 1),
        call_type=call_type,
        direction=Direction.INBOUND if call_type is CallType.INBOUND else Direction.OUTBOUND,
        status=shape.status,
        from_number=tenant.from_number,
        to_number="+821012345678",
        presentation_number=None,
        created_at=start_at - 1000,
        updated_at=end_at or start_at,
        due_at=start_at - 1000,
        metadata=metadata if metadata is not None else {"crm_lead_id": "lead_a1b2c3"},
        dynamic_variables={"customer_name": "홍길동", "visits": 3},
        opt_out_sensitive_data_storage=opt_out,
        disconnection_reason=shape.reason,
        start_at=start_at if started else None,
        answered_at=answered_at,
        end_at=end_at,
        duration_ms=(end_at - start_at) if end_at is not None and started else None,
        recording_key=None
        if opt_out or not connected_and_done
        else f"{tenant.organization_id}/{start_at}.wav",
        transcript=None if opt_out else (list(TRANSCRIPT) if shape.answered else []),
        analysis=(
            None
            if opt_out or not terminal
            else CallAnalysis(
                "예약 변경 요청",
                Sentiment.POSITIVE if shape.answered else None,
                [{"name": "new_date", "value": "2026-05-11"}],
                call_successful=shape.reason is DisconnectionReason.AGENT_HANGUP,
                in_voicemail=shape.reason is DisconnectionReason.VOICEMAIL_REACHED,
            )
        ),
        cost_minor=12_000 if connected_and_done else (0 if terminal else None),
        telephony_id=f"CA{start_at}" if started else None,
    )


def insert_every_shape(db: Any, tenant: Tenant, **kwargs: Any) -> dict[Shape, Call]:
    made = {}
    for i, shape in enumerate(every_shape()):
        made[shape] = make_call(tenant, shape, start_at=T0 + i * 60_000, **kwargs)
    insert_calls(db, list(made.values()))
    return made


def web_call(tenant: Tenant, start_at: int = T0) -> Call:
    call = make_call(tenant, Shape(CallStatus.ENDED, DisconnectionReason.USER_HANGUP), start_at=start_at)
    return replace(call, call_type=CallType.WEB, from_number=None, to_number=None)
