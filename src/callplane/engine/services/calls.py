"""What clients ask of calls, whatever dialect they speak: create, cancel, end.

A dialect parses its request into a `NewCall` and renders what comes back; every rule lives
here, once: the from_number must be owned, the presentation number approved, the agent resolved
(explicitly or through the from_number's traffic split), the callee not suppressed, and an
`Idempotency-Key` replay must carry the same request.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection

from callplane.domain.agent import Agent
from callplane.domain.call import AgentRef, Call, CallStatus, CallType, Direction, DisconnectionReason
from callplane.domain.errors import Conflict, IdempotencyMismatch, NotFound, ValidationFailed
from callplane.domain.ids import new_id, normalize_uuid
from callplane.domain.query import CallQuery
from callplane.engine import dialing, lifecycle, logcontext
from callplane.store import agents as agent_store
from callplane.store import calls as call_store
from callplane.store import creating, idempotency, listing, notify, reports
from callplane.store import numbers as number_store
from callplane.store import orgs as org_store
from callplane.store import success as success_store
from callplane.store.db import Database
from callplane.store.lifecycle import Ending
from callplane.store.listing import Page

#: How long an Idempotency-Key is remembered (Stripe and the IETF draft: at least 24 h).
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
#: Agent versions whose privacy setting a process keeps in memory at most.
_REMEMBERED_VERSIONS = 10_000


@dataclass(frozen=True, slots=True)
class NewCall:
    """A create request in no vendor's shape. Numbers are E.164 already."""

    from_number: str
    to_number: str
    agent_id: str | None = None
    agent_version: str = "current"
    dynamic_variables: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    presentation_number: str | None = None
    call_type: CallType = CallType.OUTBOUND
    idempotency_key: str | None = None
    #: Keep no transcript, recording or analysis for this call even if its agent would
    #: (Vocode's per-call `hipaa_compliant`). It can only add privacy, never remove it.
    opt_out_sensitive_data_storage: bool = False
    #: Set by the campaign feeder only (a client cannot); not part of the fingerprint.
    campaign_id: str | None = None
    campaign_task: int | None = None

    def fingerprint(self) -> str:
        parts: list[Any] = [
            self.from_number,
            self.to_number,
            self.agent_id,
            self.agent_version,
            self.dynamic_variables,
            self.metadata,
            self.presentation_number,
            self.call_type,
        ]
        if self.opt_out_sensitive_data_storage:
            # Appended only when set, so fingerprints stored before the flag existed still match.
            parts.append("opt_out_sensitive_data_storage")
        material = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(material).hexdigest()


@dataclass(frozen=True, slots=True)
class Created:
    call: Call
    replayed: bool  #: an Idempotency-Key replay: this call was created by an earlier request


def check_caller(
    conn: Connection, organization_id: str, from_number: str, presentation_number: str | None
) -> None:
    """The line a call goes out on: a number the organisation owns, and the caller ID it shows
    approved for it (a call and a campaign are checked alike)."""
    approved = presentation_number is not None and number_store.is_approved_presentation(
        conn, organization_id, presentation_number
    )
    _check_line(number_store.owns_number(conn, organization_id, from_number), presentation_number, approved)


def _check_line(owns_number: bool, presentation_number: str | None, presentation_approved: bool) -> None:
    if not owns_number:
        raise ValidationFailed.single("from_number", "is not a number owned by this organization")
    if presentation_number is not None and not presentation_approved:
        raise ValidationFailed.single(
            "presentation_number", "is not an approved presentation number of this organization"
        )


@dataclass
class CallService:
    db: Database
    now: Callable[[], int]
    draw: Callable[[], float] = field(default_factory=lambda: random.SystemRandom().random)
    #: Called after a call is committed, so an in-process dispatcher can wake at once.
    on_created: Callable[[], None] = lambda: None
    #: Called with a live call's id after its end request is committed, so an in-process worker
    #: running it ends it at once (on PostgreSQL `store.notify` tells the other workers too; on
    #: SQLite they see the request at their next heartbeat).
    on_end_requested: Callable[[str], None] = lambda call_id: None
    #: Whether each agent version seen opts out of sensitive data (`_version_opts_out`).
    _opt_outs: dict[tuple[str, str, int], bool] = field(default_factory=dict, init=False, repr=False)

    def create(self, organization_id: str, request: NewCall) -> Created:
        now = self.now()
        call_id = new_id()

        def store(conn: Connection) -> Created:
            if request.idempotency_key is not None:
                replay = _claim(conn, organization_id, request, call_id, now)
                if replay is not None:
                    return Created(replay, replayed=True)
            call = self.build(conn, organization_id, request, call_id, now)
            creating.insert_call(conn, call)
            return Created(call, replayed=False)

        def landed(conn: Connection) -> Created | None:
            call = call_store.get_call(conn, organization_id, call_id)
            return Created(call, replayed=False) if call is not None else None

        # A connection the database dropped (a restart, a terminated backend) is retried a few
        # times instead of answering 500: nothing was committed, so it cannot create the call
        # twice. Dropped during the commit, the call is looked up by its id (ours, drawn above):
        # there, it was created; absent, the commit did not happen and the insert is retried —
        # with the same id, so a commit that still lands late fails the retry on the primary
        # key rather than create a second call. Still failing, it is a 503 the client retries
        # with its Idempotency-Key.
        created = self.db.write_retrying(store, landed=landed)
        if created.replayed:
            return created
        notify.send(self.db, notify.CREATED)
        self.on_created()
        return created

    def build(self, conn: Connection, organization_id: str, request: NewCall, call_id: str, now: int) -> Call:
        """Check the request against every rule and return the queued call (not yet stored).
        The campaign feeder builds its calls here too, so a task is held to the same rules."""
        # One round trip for the line, the callee and the named agent (they were four reads).
        facts = creating.create_facts(
            conn,
            organization_id,
            request.from_number,
            request.to_number,
            request.presentation_number,
            request.agent_id,
        )
        _check_line(facts.owns_number, request.presentation_number, facts.presentation_approved)
        if facts.suppressed:
            raise ValidationFailed.single("to_number", "is on this organization's do-not-call list")
        agent, label = self._resolve_agent(conn, organization_id, request, facts.agent)
        return Call(
            id=call_id,
            organization_id=organization_id,
            agent=agent,
            call_type=request.call_type,
            direction=Direction.INBOUND if request.call_type is CallType.INBOUND else Direction.OUTBOUND,
            status=CallStatus.QUEUED,
            from_number=request.from_number,
            to_number=request.to_number,
            presentation_number=request.presentation_number,
            created_at=now,
            updated_at=now,
            due_at=now,
            metadata=request.metadata,
            dynamic_variables=request.dynamic_variables,
            opt_out_sensitive_data_storage=(
                self._version_opts_out(conn, organization_id, agent) or request.opt_out_sensitive_data_storage
            ),
            variant_label=label,
            campaign_id=request.campaign_id,
            campaign_task=request.campaign_task,
            # The worker writes it on its log lines for this call (engine.logcontext).
            request_id=logcontext.request_id.get(),
        )

    def _version_opts_out(self, conn: Connection, organization_id: str, agent: AgentRef) -> bool:
        """Whether the agent version keeps no sensitive data. Versions are immutable (inserted,
        never updated; agents are never deleted), so the answer is remembered per version
        (`AgentVersion.key`: organisation, agent, number) instead of read and parsed per call."""
        key = (organization_id, agent.agent_id, agent.version)
        known = self._opt_outs.get(key)
        if known is None:
            version = agent_store.get_version(conn, organization_id, agent.agent_id, agent.version)
            known = version.opt_out_sensitive_data_storage
            if len(self._opt_outs) >= _REMEMBERED_VERSIONS:
                self._opt_outs.clear()  # a bound, not a policy: the next creates read them again
            self._opt_outs[key] = known
        return known

    def _resolve_agent(
        self, conn: Connection, organization_id: str, request: NewCall, named: Agent | None
    ) -> tuple[AgentRef, str | None]:
        if request.agent_id is not None:
            # An explicit agent bypasses any traffic split (Vox: variant_label stays null).
            if named is None:
                raise ValidationFailed.single("agent.agent_id", "no such agent in this organization")
            number = named.resolve(request.agent_version)
            return AgentRef(named.id, request.agent_version, number), None
        split = number_store.active_traffic_split(conn, organization_id, request.from_number)
        if split is None:
            raise ValidationFailed.single(
                "agent", "is required: the from_number has no active traffic-split policy"
            )
        variant = split.pick(self.draw())
        try:
            agent = agent_store.get_agent(conn, organization_id, variant.agent_id)
        except NotFound:
            raise ValidationFailed.single(
                "agent", f"traffic-split variant {variant.label!r} names a deleted agent"
            ) from None
        number = agent.resolve(variant.version_spec, field="agent")
        return AgentRef(agent.id, variant.version_spec, number), variant.label

    def cancel(self, organization_id: str, call_id: str) -> Call:
        """Cancel a queued call, or ask the worker running a live call to end it."""
        canonical = normalize_uuid(call_id)
        now = self.now()
        with self.db.write() as conn:
            call = call_store.get_call(conn, organization_id, canonical or "", with_transcript=False)
            if call is None:
                raise NotFound(f"call {call_id} not found")
            if call.status is CallStatus.QUEUED:
                # With its post-call step and `call_ended` event, like every terminal call.
                canceled = lifecycle.ended(
                    conn,
                    call,
                    Ending(CallStatus.CANCELED, DisconnectionReason.CANCELED_BY_USER, end_at=now),
                    now=now,
                    fence=None,
                )
                # A worker claimed it in the meantime (PostgreSQL): end it like a live call.
                end_requested = not canceled
            elif call.status.is_live:
                end_requested = True
            else:
                raise Conflict(f"call {call_id} has already finished ({call.status})")
            if end_requested:
                call_store.request_end(conn, organization_id, call.id, now)
        if end_requested:
            notify.send(self.db, notify.END_PREFIX + call.id)
            self.on_end_requested(call.id)
        return self.get(organization_id, call_id)

    def list(self, query: CallQuery) -> Page:
        with self.db.read() as conn:
            return listing.list_calls(conn, query)

    def kpis(self, query: CallQuery) -> reports.Kpis:
        """Totals over the calls `query` lists (its page and cursor aside)."""
        with self.db.read() as conn:
            return reports.kpis(conn, query)

    def success(self, query: CallQuery, field: str, value: str | bool = True) -> success_store.Success:
        """The KPI strip's success rate over the calls `query` lists (`store/success.py`)."""
        with self.db.read() as conn:
            return success_store.success(conn, query, field, value)

    def report(self, query: CallQuery, starts: Sequence[int] | None = None) -> reports.Report:
        """The analytics breakdowns of the calls `query` lists (its page and cursor aside), its
        hours folded into the buckets beginning at `starts` when given."""
        with self.db.read() as conn:
            return reports.report(conn, query, starts)

    def activity(self) -> dict[str, reports.Activity]:
        """Live and due calls per organisation, for the operator."""
        with self.db.read() as conn:
            return reports.activity_by_organization(conn, self.now())

    def outlook(self, call: Call) -> dialing.Outlook | None:
        """Why a queued call is still waiting: what the dispatcher would decide for it now,
        from the same facts and rules (`dialing.outlook`). None for any other status."""
        if call.status is not CallStatus.QUEUED:
            return None
        with self.db.read() as conn:
            org = org_store.get_organization(conn, call.organization_id)
            return dialing.outlook(conn, org, call, self.now())

    def get(self, organization_id: str, call_id: str) -> Call:
        canonical = normalize_uuid(call_id)
        with self.db.read() as conn:
            call = call_store.get_call(conn, organization_id, canonical) if canonical else None
        if call is None:
            raise NotFound(f"call {call_id} not found")
        return call


def _claim(conn: Connection, organization_id: str, request: NewCall, call_id: str, now: int) -> Call | None:
    """Take the request's Idempotency-Key for `call_id` (None), or the call an earlier request
    with that key created (a replay).

    The key is claimed before the call is built, in the same transaction that inserts the call
    (`store.idempotency`). A concurrent repeat therefore waits at its claim until the first
    transaction ends (PostgreSQL: on the key's unique index; SQLite: for the single writer) and
    then replays the committed call — or, if the first failed and rolled back, creates it. That
    transaction is milliseconds long, so waiting is better than Stripe's 409 for an in-flight
    key: the client gets its call at once instead of a retry. No in-flight state is ever
    visible to another request, so a call create never answers 409 for it.
    """
    assert request.idempotency_key is not None
    fingerprint = request.fingerprint()
    seen = idempotency.claim_call_key(
        conn,
        organization_id,
        request.idempotency_key,
        fingerprint,
        call_id,
        now,
        expired_before=now - IDEMPOTENCY_TTL_MS,
    )
    if seen is None:
        return None
    if seen.fingerprint != fingerprint:
        raise IdempotencyMismatch("this Idempotency-Key was used with a different request body")
    call = call_store.get_call(conn, organization_id, seen.call_id)
    if call is None:
        # Calls are never deleted while their key lives; say so rather than create a second one.
        raise Conflict("the call this Idempotency-Key created no longer exists")
    return call
