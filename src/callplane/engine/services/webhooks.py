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
`call` (rendered by the endpoint's format, `WebhookFormat.render_campaign`). An endpoint created
without `events` receives all five.

Every `call` object carries: `call_id`, `agent {agent_id, agent_version}`, `call_type`,
`call_status` (Vox v3 vocabulary: dialing/ringing read `queued`), `from_number`, `to_number`,
`presentation_number` (Korean domestic digits, as in the Vox API), `dynamic_variables`,
`metadata`, `variant_label`, `start_at`, `end_at`, `occurred_at` (when the event happened, Unix ms),
`disconnection_reason` (Vox's 17 values; callplane's own `suppressed`/`canceled_by_user` read
null, as in the API) and `opt_out_sensitive_data_storage`. In addition:

- `call_ended`: `transcript` (the Vox v3 timeline: utterances with `start_at`/`end_at`, tool call
  invocations and results) and `recording_url` (a signed link minted at each delivery attempt,
  as the API mints one per response: `engine/services/recordings.py`; null without a recording);
- `call_analyzed`: `call_analysis {summary, user_sentiment, custom_analysis_data}`,
  `call_cost {total_cost: "<KRW decimal string>"}` and `duration_ms` (no transcript: `call_ended`
  carried it; keeps the payload small).

Delivery is at least once and, per call and destination, in the order the events were written:
a `call_analyzed` is not posted to an endpoint while that call's `call_ended` is still pending
there (its retries included; `store.deliveries.claim_deliveries`). Events of different calls, and
one call's events to different endpoints, are independent. Deduplicate on `webhook-id` (a
retry after a lost answer, or a redelivery, sends an event again).

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

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from callplane.domain.agent import VersionKey
from callplane.domain.call import AgentRef
from callplane.domain.errors import Conflict, NotFound, ValidationFailed
from callplane.domain.ids import new_id
from callplane.engine import egress
from callplane.engine.memo import Memo
from callplane.engine.services import recordings
from callplane.engine.services.webhook_formats import FORMATS, FormatName
from callplane.store import agents as agent_store
from callplane.store import deliveries as delivery_store
from callplane.store import outbox
from callplane.store.calls import Moved
from callplane.store.db import Database
from callplane.store.outbox import Endpoint, NewEvent, Subject, SubjectKind, Target

#: The event type of a test event (`WebhookAdmin.send_test`); never subscribed to, always sent.
TEST_EVENT = "test"

__all__ = ["ALL_EVENTS", "CreatedEndpoint", "Endpoint", "EventType", "WebhookAdmin", "emit"]


class EventType(enum.StrEnum):
    CALL_STARTED = "call_started"
    CALL_ENDED = "call_ended"
    CALL_ANALYZED = "call_analyzed"
    #: `engine.services.campaign_events`: `{"event", "webhook_version", "campaign": {...}}`
    CAMPAIGN_STARTED = "campaign_started"
    CAMPAIGN_FINISHED = "campaign_finished"


ALL_EVENTS = tuple(e.value for e in EventType)


def new_event_id() -> str:
    return "msg_" + new_id().replace("-", "")


def emit(conn: Connection, moved: Moved, agent: AgentRef, event: EventType, now: int) -> list[str]:
    """Write the event to the outbox with a delivery per destination, in the caller's transaction
    (`emit_all` with one event)."""
    return emit_all(conn, moved, agent, [event], now)


def emit_all(
    conn: Connection, moved: Moved, agent: AgentRef, events: Sequence[EventType], now: int
) -> list[str]:
    """Write events of the call a change moved (`store.calls.move_announcing`), in order, to the
    outbox with a delivery per destination, in the caller's transaction.

    The change's own statement returned the call as it left it and the organisation's enabled
    endpoints (`Moved`): the call is not read again, and the endpoints are looked up by that
    stamp (`outbox.endpoints_of`, remembered per set), so an endpoint added or disabled during a
    call counts from the call's next change on, as if read in each event's transaction.

    The body is rendered once per payload format among an event's destinations (one outbox event
    each: Vox endpoints share one body, Retell endpoints another); every event and delivery of
    the change is inserted together (`outbox.add_events`). Returns the event ids written."""
    organization_id = moved.row.organization_id
    found = outbox.endpoints_of(conn, organization_id, moved.endpoints)
    wanted = [(event, _targets(conn, organization_id, agent, event, now, found)) for event in events]
    if not any(targets for _, targets in wanted):
        return []
    call = moved.call()
    marked = recordings.marked(call)
    subject = Subject(SubjectKind.CALL, call.id)
    written: list[NewEvent] = []
    for event, targets in wanted:
        by_format: dict[str, list[Target]] = {}
        for target in targets:
            by_format.setdefault(target.format, []).append(target)
        for name, group in by_format.items():
            body = FORMATS.get(name).render(marked, event.value, now)
            written.append(NewEvent(new_event_id(), subject, event.value, body, group, name))
    outbox.add_events(conn, organization_id, written, now)
    return [e.event_id for e in written]


def _targets(
    conn: Connection,
    organization_id: str,
    agent: AgentRef,
    event: EventType,
    now: int,
    found: Sequence[outbox.Endpoint],
) -> list[Target]:
    targets = [Target(e.url, e.id, e.format) for e in outbox.wanting(found, agent.agent_id, event.value)]
    url = _agent_webhook_url(conn, organization_id, agent)
    if url:
        if outbox.signing_secret(conn, organization_id) is None:
            outbox.set_signing_secret(conn, organization_id, FORMATS.get(FormatName.VOX).new_secret(), now)
        targets.append(Target(url, None, FormatName.VOX.value))
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


def validate_events(value: object, allowed: frozenset[str] = frozenset(ALL_EVENTS)) -> list[str]:
    """The event types asked for (default: every one the endpoint's format carries)."""
    known = tuple(e for e in ALL_EVENTS if e in allowed)
    if value is None:
        return list(known)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationFailed.single("events", "must be a non-empty list of event types", known)
    unknown = [v for v in value if v not in known]
    if unknown:
        raise ValidationFailed.single("events", f"unknown event type {unknown[0]!r} for this format", known)
    return sorted(set(value), key=ALL_EVENTS.index)


def validate_format(value: object) -> FormatName:
    names = tuple(f.value for f in FormatName)
    if value is None:
        return FormatName.VOX
    if not isinstance(value, str) or value not in names:
        raise ValidationFailed.single("format", "must be one of the payload formats", names)
    return FormatName(value)


def validate_secret(value: object) -> str | None:
    """A secret chosen by the client (Retell endpoints: the key the handler already verifies with)."""
    if value is None:
        return None
    if not isinstance(value, str) or not 24 <= len(value) <= 100 or not value.isprintable():
        raise ValidationFailed.single("secret", "must be 24 to 100 printable characters")
    return value


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
        format: object = None,
        secret: object = None,
    ) -> CreatedEndpoint:
        """An endpoint receiving `events` (default: all its format carries) in `format` (default
        Vox), signed with `secret` (default: a new one of the format's kind)."""
        checked_url = validate_url(url, allow_private=self.allow_private)
        name = validate_format(format)
        fmt = FORMATS.get(name)
        checked_events = validate_events(events, fmt.events)
        if not isinstance(description, str) or len(description) > 200:
            raise ValidationFailed.single("description", "must be a string of at most 200 characters")
        chosen = validate_secret(secret) or fmt.new_secret()
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
                secret=chosen,
                events=checked_events,
                agent_id=agent,
                description=description,
                now=self.now(),
                format=name.value,
            )
        return CreatedEndpoint(endpoint, chosen)

    def endpoints(self, organization_id: str) -> list[Endpoint]:
        with self.db.read() as conn:
            return outbox.list_endpoints(conn, organization_id)

    def remove(self, organization_id: str, endpoint_id: str) -> None:
        with self.db.write() as conn:
            outbox.remove_endpoint(conn, organization_id, endpoint_id, self.now())

    def rotate_agent_url_secret(self, organization_id: str) -> str:
        """A new secret for deliveries to agent versions' own `webhook_url`; shown once."""
        secret = FORMATS.get(FormatName.VOX).new_secret()
        with self.db.write() as conn:
            outbox.set_signing_secret(conn, organization_id, secret, self.now())
        return secret

    def deliveries(self, organization_id: str, subject_id: str) -> list[delivery_store.DeliveryLog]:
        """The deliveries of a call's events (or a campaign's, or an endpoint's test events)."""
        with self.db.read() as conn:
            return delivery_store.deliveries_about(conn, organization_id, subject_id)

    def delivery_log(
        self, organization_id: str, limit: int, before: tuple[int, str] | None = None
    ) -> list[delivery_store.LoggedDelivery]:
        """Every delivery of the organisation, newest first (the dashboard's delivery log)."""
        with self.db.read() as conn:
            return delivery_store.recent(conn, organization_id, limit=limit, before=before)

    def delivery(self, organization_id: str, delivery_id: str) -> delivery_store.DeliveryLog:
        with self.db.read() as conn:
            return delivery_store.get_delivery(conn, organization_id, delivery_id)

    def redeliver(self, organization_id: str, delivery_id: str) -> delivery_store.DeliveryLog:
        """Send a finished delivery's event again to its destination (a new delivery, due now).

        404 for a delivery or endpoint that is not there; 409 while it is still pending or when
        its endpoint is disabled."""
        with self.db.write() as conn:
            new = delivery_store.redeliver(conn, organization_id, delivery_id, self.now())
            return delivery_store.get_delivery(conn, organization_id, new)

    def send_test(self, organization_id: str, endpoint_id: str) -> delivery_store.DeliveryLog:
        """A `test` event to one endpoint, in its format and signed like its real events; the
        relay delivers it like any other (follow it with `delivery`). A disabled endpoint is a
        409: the relay would fail the delivery without sending it."""
        now = self.now()
        with self.db.write() as conn:
            endpoint = outbox.get_endpoint(conn, organization_id, endpoint_id)
            if not endpoint.enabled:
                raise Conflict(f"webhook endpoint {endpoint.id} is disabled ({endpoint.disabled_reason})")
            [delivery_id] = outbox.add_event(
                conn,
                organization_id,
                event_id=new_event_id(),
                subject=Subject(SubjectKind.ENDPOINT, endpoint.id),
                event_type=TEST_EVENT,
                body=FORMATS.get(endpoint.format).render_test(endpoint.id, now),
                now=now,
                targets=[Target(endpoint.url, endpoint.id, endpoint.format)],
                format=endpoint.format,
            )
            return delivery_store.get_delivery(conn, organization_id, delivery_id)
