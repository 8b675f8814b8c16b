"""Webhook events: what they say, where they go, and the endpoints an organisation configures.

Events are written to the outbox (`store.outbox`) by `emit`, inside the transaction of the status
change that causes them; `engine.jobs.relay` signs and delivers them. Three call events, in Vox's v2
envelope `{"event": <type>, "webhook_version": "v2", "call": {...}}`:

- `call_started` — the callee answered (a call that never connects sends none, like Retell);
- `call_ended` — the call reached a terminal status: ended, not_connected, error or canceled
  (refused and canceled calls too, so a client hears about every call it created);
- `call_analyzed` — post-call finished: analysis, cost and duration.

Campaigns add `campaign_started` and `campaign_finished` (`engine.services.campaign_events`), written to
the same outbox and signed and delivered the same way, with a `campaign` object instead of
`call`. An endpoint created without `events` receives all five.

Every `call` object carries: `call_id`, `agent {agent_id, agent_version}`, `call_type`,
`call_status` (Vox v3 vocabulary: dialing/ringing read `queued`), `from_number`, `to_number`,
`presentation_number` (Korean domestic digits, as in the Vox API), `dynamic_variables`,
`metadata`, `variant_label`, `start_at`, `end_at`, `occurred_at` (when the event happened, Unix ms),
`disconnection_reason` (Vox's 17 values; callplane's own `suppressed`/`canceled_by_user` read
null, as in the API) and `opt_out_sensitive_data_storage`. In addition:

- `call_ended`: `transcript` (the Vox v3 timeline: utterances with `start_at`/`end_at`, tool call
  invocations and results) and `recording_url`;
- `call_analyzed`: `call_analysis {summary, user_sentiment, custom_analysis_data}`,
  `call_cost {total_cost: "<KRW decimal string>"}` and `duration_ms` (no transcript: `call_ended`
  carried it; keeps the payload small).

Delivery is at least once and not ordered: each event is retried on its own schedule, so a
`call_analyzed` can arrive before a `call_ended` that needed a retry. Deduplicate on
`webhook-id`; order by `call.occurred_at`.

An opted-out call (`opt_out_sensitive_data_storage`) carries `transcript`, `recording_url` and
`call_analysis` as null: nothing that was not stored is sent.

Destinations: every enabled endpoint of the organisation that subscribes to the event and is
either for all agents or for the call's agent, each signed with its own `whsec_` secret; and
the URL the agent version names itself (`webhook_url` in the agent file, Vox's per-agent
webhook), signed with the organisation's agent-URL signing secret (created on first use, shown
when rotated: `POST /admin/v1/webhook-endpoints/agent-url-secret`, `callplane webhooks
agent-secret`).
"""

from __future__ import annotations

import base64
import enum
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from callplane.domain.agent import VersionKey
from callplane.domain.call import AgentRef, Call, CallStatus, TranscriptEntry
from callplane.domain.errors import NotFound, ValidationFailed
from callplane.domain.ids import new_id
from callplane.domain.money import format_krw
from callplane.domain.phone import to_domestic
from callplane.engine import egress
from callplane.engine.memo import Memo
from callplane.store import agents as agent_store
from callplane.store import calls as call_store
from callplane.store import outbox
from callplane.store.db import Database
from callplane.store.outbox import Endpoint, Target

WEBHOOK_VERSION = "v2"

__all__ = ["ALL_EVENTS", "CreatedEndpoint", "Endpoint", "EventType", "WebhookAdmin", "emit", "payload"]


class EventType(enum.StrEnum):
    CALL_STARTED = "call_started"
    CALL_ENDED = "call_ended"
    CALL_ANALYZED = "call_analyzed"
    #: `engine.services.campaign_events`: `{"event", "webhook_version", "campaign": {...}}`
    CAMPAIGN_STARTED = "campaign_started"
    CAMPAIGN_FINISHED = "campaign_finished"


ALL_EVENTS = tuple(e.value for e in EventType)

_STATUS = {CallStatus.DIALING: "queued", CallStatus.RINGING: "queued"}


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_event_id() -> str:
    return "msg_" + new_id().replace("-", "")


def _number(value: str | None) -> str | None:
    return to_domestic(value) if value else None


def _timeline(transcript: Sequence[TranscriptEntry] | None) -> list[TranscriptEntry]:
    out: list[TranscriptEntry] = []
    for entry in transcript or []:
        role = entry.get("role")
        if role in ("agent", "user"):
            out.append(
                {
                    "role": role,
                    "content": entry.get("content", ""),
                    "start_at": entry.get("start_at"),
                    "end_at": entry.get("end_at"),
                }
            )
        elif role == "tool_call_invocation":
            out.append(
                {
                    "role": role,
                    "tool_call_id": entry.get("tool_call_id"),
                    "name": entry.get("name"),
                    "arguments": entry.get("arguments", {}),
                }
            )
        elif role == "tool_call_result":
            out.append(
                {"role": role, "tool_call_id": entry.get("tool_call_id"), "content": entry.get("content", "")}
            )
    return out


def payload(call: Call, event: EventType, occurred_at: int) -> dict[str, Any]:
    """The envelope for one event about `call` (as stored after the change that caused it)."""
    reason = call.disconnection_reason
    body: dict[str, Any] = {
        "call_id": call.id,
        "agent": {"agent_id": call.agent.agent_id, "agent_version": call.agent.requested_version},
        "call_type": call.call_type.value,
        "call_status": _STATUS.get(call.status, call.status.value),
        "from_number": _number(call.from_number),
        "to_number": _number(call.to_number),
        "presentation_number": _number(call.presentation_number),
        "dynamic_variables": call.dynamic_variables,
        "metadata": call.metadata,
        "variant_label": call.variant_label,
        "start_at": call.start_at,
        "end_at": call.end_at,
        "occurred_at": occurred_at,
        "disconnection_reason": reason.value if reason is not None and reason.is_vox else None,
        "opt_out_sensitive_data_storage": call.opt_out_sensitive_data_storage,
    }
    opted_out = call.opt_out_sensitive_data_storage
    if event is EventType.CALL_ENDED:
        body["transcript"] = None if opted_out else _timeline(call.transcript)
        body["recording_url"] = None if opted_out else call.recording_url
    elif event is EventType.CALL_ANALYZED:
        analysis = call.analysis
        body["call_analysis"] = (
            None
            if opted_out or analysis is None
            else {
                "summary": analysis.summary,
                "user_sentiment": analysis.user_sentiment.value if analysis.user_sentiment else None,
                "custom_analysis_data": analysis.custom_analysis_data,
            }
        )
        body["call_cost"] = (
            {"total_cost": format_krw(call.cost_minor)} if call.cost_minor is not None else None
        )
        body["duration_ms"] = call.duration_ms
    return {"event": event.value, "webhook_version": WEBHOOK_VERSION, "call": body}


def emit(
    conn: Connection,
    organization_id: str,
    call_id: str,
    agent: AgentRef,
    event: EventType,
    now: int,
) -> str | None:
    """Write one event to the outbox with a delivery per destination, in the caller's transaction.

    The call is read (as the transaction sees it now) only when some destination wants the
    event. Returns the event id, or None when none does (nothing is written then)."""
    targets = _targets(conn, organization_id, agent, event, now)
    if not targets:
        return None
    call = call_store.get_call(conn, organization_id, call_id, with_transcript=event is EventType.CALL_ENDED)
    assert call is not None, "events are only emitted for calls that exist"
    event_id = new_event_id()
    body = orjson.dumps(payload(call, event, now)).decode()
    outbox.add_event(
        conn,
        organization_id,
        event_id=event_id,
        call_id=call_id,
        event_type=event.value,
        body=body,
        now=now,
        targets=targets,
    )
    return event_id


def _targets(
    conn: Connection, organization_id: str, agent: AgentRef, event: EventType, now: int
) -> list[Target]:
    targets = [
        Target(e.url, e.id) for e in outbox.destinations(conn, organization_id, agent.agent_id, event.value)
    ]
    url = _agent_webhook_url(conn, organization_id, agent)
    if url:
        if outbox.signing_secret(conn, organization_id) is None:
            outbox.set_signing_secret(conn, organization_id, new_secret(), now)
        targets.append(Target(url, None))
    return targets


#: Agent versions are immutable, so the URL a version names can be remembered process-wide.
_AGENT_URLS: Memo[VersionKey, str | None] = Memo(10_000)


def _agent_webhook_url(conn: Connection, organization_id: str, agent: AgentRef) -> str | None:
    key = (organization_id, agent.agent_id, agent.version)

    def read() -> str | None:
        try:
            return agent_store.get_version(conn, *key).webhook_url
        except NotFound:
            return None

    return _AGENT_URLS.get(key, read)


def validate_url(value: object, field: str = "url", *, allow_private: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.single(field, "is required: an http(s) URL")
    return egress.vet_url(value, field, allow_private=allow_private)


def validate_events(value: object) -> list[str]:
    if value is None:
        return list(ALL_EVENTS)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationFailed.single("events", "must be a non-empty list of event types", ALL_EVENTS)
    unknown = [v for v in value if v not in ALL_EVENTS]
    if unknown:
        raise ValidationFailed.single("events", f"unknown event type {unknown[0]!r}", ALL_EVENTS)
    return sorted(set(value), key=ALL_EVENTS.index)


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    endpoint: Endpoint
    secret: str  #: shown once


@dataclass
class WebhookAdmin:
    """Webhook endpoints of an organisation; shared by the admin API and the CLI."""

    db: Database
    now: Callable[[], int]
    #: Let endpoints be internal addresses (`CALLPLANE_ALLOW_PRIVATE_DESTINATIONS`).
    allow_private: bool = False

    def add(
        self,
        organization_id: str,
        url: object,
        *,
        events: object = None,
        agent_id: object = None,
        description: object = "",
    ) -> CreatedEndpoint:
        checked_url = validate_url(url, allow_private=self.allow_private)
        checked_events = validate_events(events)
        if not isinstance(description, str) or len(description) > 200:
            raise ValidationFailed.single("description", "must be a string of at most 200 characters")
        secret = new_secret()
        with self.db.write() as conn:
            agent = None
            if agent_id is not None:
                if not isinstance(agent_id, str):
                    raise ValidationFailed.single("agent_id", "must be an agent id")
                try:
                    agent = agent_store.get_agent(conn, organization_id, agent_id).id
                except NotFound:
                    raise ValidationFailed.single("agent_id", "no such agent in this organization") from None
            endpoint = outbox.create_endpoint(
                conn,
                organization_id,
                url=checked_url,
                secret=secret,
                events=checked_events,
                agent_id=agent,
                description=description,
                now=self.now(),
            )
        return CreatedEndpoint(endpoint, secret)

    def endpoints(self, organization_id: str) -> list[Endpoint]:
        with self.db.read() as conn:
            return outbox.list_endpoints(conn, organization_id)

    def remove(self, organization_id: str, endpoint_id: str) -> None:
        with self.db.write() as conn:
            outbox.remove_endpoint(conn, organization_id, endpoint_id, self.now())

    def rotate_agent_url_secret(self, organization_id: str) -> str:
        """A new secret for deliveries to agent versions' own `webhook_url`; shown once."""
        secret = new_secret()
        with self.db.write() as conn:
            outbox.set_signing_secret(conn, organization_id, secret, self.now())
        return secret

    def deliveries(self, organization_id: str, call_id: str) -> list[outbox.DeliveryLog]:
        with self.db.read() as conn:
            return outbox.deliveries_for_call(conn, organization_id, call_id)
