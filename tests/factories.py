"""Test data made through the project's own code paths (admin use cases and the call store)."""

from __future__ import annotations

import random
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
from callplane.domain.phone import parse_kr, to_domestic
from callplane.domain.principal import TENANT_SCOPES
from callplane.engine.services.admin import Admin
from callplane.store import creating
from callplane.store.db import Database

FLOW_AGENT: dict[str, Any] = {
    "name": "test agent",
    "type": "flow",
    "flow": {
        "start": "hello",
        "nodes": {
            "hello": {"type": "end", "say": "안녕하세요 {{customer_name}}님", "reason": "agent_hangup"}
        },
    },
}


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    api_key: str
    key_id: str
    key_secret: str
    agent_id: str
    from_number: str  # E.164
    second_number: str
    presentation_number: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_tenant(
    db: Database, now: int, name: str = "test org", agent: dict[str, Any] | None = None
) -> Tenant:
    """An organisation set up like the demo: numbers, an approved caller ID, keys with every scope.

    The first in a database gets the demo's numbers (07011112222, 07033334444, 0212345678); a
    number has one owner, so each later one gets its own.
    """
    admin = Admin(db, lambda: now, allow_private_destinations=True)  # agents may name local fakes
    n = len(admin.organizations())
    org = admin.create_organization(
        name, calling_window={"start": "00:00", "end": "24:00"}, balance="100000.00", rate_per_minute="100.00"
    )
    from_number = parse_kr("07011112222" if n == 0 else f"0701{n:03d}2222", "n")
    second = parse_kr("07033334444" if n == 0 else f"0703{n:03d}4444", "n")
    presentation = parse_kr("0212345678" if n == 0 else f"029{n:03d}5678", "n")
    admin.add_number(org.id, from_number, "main")
    admin.add_number(org.id, second, "second")
    admin.approve_presentation_number(org.id, presentation)
    created = admin.create_agent(org.id, agent or FLOW_AGENT)
    key = admin.issue_key(org.id, "test", scopes=TENANT_SCOPES)
    pair = admin.issue_key(org.id, "test pair", kind="key_secret", scopes=TENANT_SCOPES)
    assert pair.secret is not None
    return Tenant(org.id, key.key, pair.key, pair.secret, created.id, from_number, second, presentation)


def call_body(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    """Seed 001's example request, for this tenant's agent."""
    body: dict[str, Any] = {
        "from_number": to_domestic(tenant.from_number),
        "to_number": "01012345678",
        "agent": {"agent_id": tenant.agent_id, "agent_version": "current"},
        "dynamic_variables": {"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"},
        "metadata": {"crm_lead_id": "lead_a1b2c3"},
    }
    body.update(overrides)
    return body


TERMINAL_REASONS = {
    CallStatus.ENDED: [
        DisconnectionReason.USER_HANGUP,
        DisconnectionReason.AGENT_HANGUP,
        DisconnectionReason.INACTIVITY,
    ],
    CallStatus.NOT_CONNECTED: [DisconnectionReason.DIAL_NO_ANSWER, DisconnectionReason.DIAL_BUSY],
    CallStatus.ERROR: [DisconnectionReason.FLOW_ERROR, DisconnectionReason.INSUFFICIENT_BALANCE],
    CallStatus.CANCELED: [DisconnectionReason.CANCELED_BY_USER],
}


def random_call(
    rng: random.Random,
    organization_id: str,
    agent_ids: list[str],
    *,
    start_at: int | None,
    phrases: list[str] | None = None,
) -> Call:
    """A call in any state, with consistent fields for that state."""
    status = rng.choice(list(CallStatus))
    created = (start_at or 1_767_225_600_000) - rng.randint(0, 60_000)
    reason = None
    end_at = duration = answered = None
    analysis = None
    transcript = None
    if status.is_terminal:
        reason = rng.choice(TERMINAL_REASONS[status])
    if status in (CallStatus.ENDED, CallStatus.NOT_CONNECTED, CallStatus.ERROR) and start_at is not None:
        duration = rng.choice([0, 1000, 30_000, 30_000, 95_000, 600_000])
        end_at = start_at + duration
    if status is CallStatus.ENDED and start_at is not None:
        answered = start_at + 2000
        analysis = CallAnalysis("summary", rng.choice(list(Sentiment)), [])
        if phrases:
            transcript = [
                {
                    "role": rng.choice(["agent", "user"]),
                    "content": rng.choice(phrases),
                    "start_at": start_at,
                    "end_at": start_at,
                }
                for _ in range(rng.randint(1, 4))
            ]
    if status is CallStatus.QUEUED or status is CallStatus.CANCELED:
        start_at = None
    metadata: dict[str, Any] = {
        "campaign": rng.choice(["spring", "summer", "fall"]),
        "customer_id": rng.randint(1, 50),
    }
    if rng.random() < 0.3:
        metadata["priority"] = rng.choice([True, False])
    return Call(
        id=new_id(),
        organization_id=organization_id,
        agent=AgentRef(rng.choice(agent_ids), "current", 1),
        call_type=rng.choice([CallType.OUTBOUND, CallType.OUTBOUND, CallType.WEB, CallType.API]),
        direction=Direction.OUTBOUND,
        status=status,
        from_number=rng.choice(["+827011112222", "+827033334444"]),
        to_number=f"+8210{rng.randint(10_000_000, 10_000_020)}",
        presentation_number=None,
        created_at=created,
        updated_at=created,
        due_at=created,
        metadata=metadata,
        dynamic_variables={"customer_name": "홍길동"},
        disconnection_reason=reason,
        start_at=start_at,
        answered_at=answered,
        end_at=end_at,
        duration_ms=duration,
        transcript=transcript,
        analysis=analysis,
    )


def insert_calls(db: Database, found: list[Call]) -> None:
    with db.write() as conn:
        for call in found:
            creating.insert_call(conn, call)


def with_status(call: Call, status: CallStatus) -> Call:
    return replace(call, status=status)


def ended_saying(call: Call, transcript: list[dict[str, Any]]) -> Call:
    """The call, ended with this transcript (for search tests)."""
    return replace(call, status=CallStatus.ENDED, transcript=transcript)
