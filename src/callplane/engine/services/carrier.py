"""What the carrier-facing side needs from the database: which provider a number is on, inbound
calls to owned numbers, and the carrier's own price on a call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.exc import DBAPIError

from callplane.domain import limits
from callplane.domain.call import AgentRef, Call, CallStatus, CallType, Direction
from callplane.domain.ids import new_id
from callplane.engine.live.telephony.registry import SIMULATED
from callplane.store import agents as agent_store
from callplane.store import carrier as carrier_store
from callplane.store import creating, queue
from callplane.store import numbers as number_store
from callplane.store import orgs as org_store
from callplane.store.db import Database


def line_of(db: Database) -> Callable[[str], str]:
    """`from_number → provider name` for the conductor's `Carriers` (a number nobody owns — a
    demo without numbers — stays on the simulated line)."""

    def provider(number: str) -> str:
        # Asked at dial time: a connection the server dropped (a restart, a terminated backend)
        # must not fail the dial — the call would end `dial_failed`, blaming the carrier. A read
        # is safe to run again on a fresh connection.
        for last in (False, True):
            try:
                with db.read() as conn:
                    owned = number_store.number_line(conn, number)
                break
            except DBAPIError as exc:
                if last or not exc.connection_invalidated:
                    raise
        return owned.provider if owned is not None else SIMULATED

    return provider


def record_carrier_price(db: Database, organization_id: str, call_id: str, price: str) -> None:
    """The carrier's own charge for the call (e.g. `-0.01300 USD`): reconciliation only; the
    call's `cost_minor` is callplane's price of the talk time it measured."""
    with db.write() as conn:
        carrier_store.set_carrier_price(conn, organization_id, call_id, price[:40])


@dataclass(frozen=True, slots=True)
class InboundDesk:
    """The worker of this process that answers incoming calls (`serve`'s embedded worker): the
    call is claimed for it at once and handed over (`adopt`), because the media stream the
    carrier opens next reaches this process."""

    worker_id: str
    lease_ms: int
    #: `(call, claimed_at)`: the call as claimed (dialing, with its attempt) and when.
    adopt: Callable[[Call, int], None]


def receive_inbound(
    db: Database, desk: InboundDesk, *, provider: str, to_number: str, caller: str, carrier_id: str, now: int
) -> Call | None:
    """A call to an owned number: stored as an inbound call of the number's organisation,
    claimed for this process's worker and handed to it (returned as claimed: dialing, with its
    attempt); None when it must be rejected (not our number, no inbound agent, the caller is on
    the do-not-call list, no balance, or no free concurrency slot — an incoming call cannot wait
    in the queue)."""
    with db.write() as conn:
        owned = number_store.number_line(conn, to_number)
        if owned is None or owned.provider != provider or owned.inbound_agent_id is None:
            return None
        org = org_store.get_organization(conn, owned.organization_id)
        if number_store.is_suppressed(conn, org.id, caller):
            return None
        live = queue.live_count(conn, org.id)
        prepaid_out = org.balance_minor is not None and org.balance_minor <= 0
        if prepaid_out or live >= org.limits.max_concurrent_calls or limits.balance_held(org, live):
            return None
        agent = agent_store.get_agent(conn, org.id, owned.inbound_agent_id)
        version = agent_store.get_version(conn, org.id, agent.id, agent.resolve("current"))
        call = Call(
            id=new_id(),
            organization_id=org.id,
            agent=AgentRef(agent.id, "current", version.version),
            call_type=CallType.INBOUND,
            direction=Direction.INBOUND,
            status=CallStatus.QUEUED,
            from_number=caller,
            to_number=to_number,
            presentation_number=None,
            created_at=now,
            updated_at=now,
            due_at=now,
            metadata={},
            dynamic_variables={"caller_number": caller},
            opt_out_sensitive_data_storage=version.opt_out_sensitive_data_storage,
            telephony_id=carrier_id,
        )
        creating.insert_call(conn, call)
        attempt = queue.start_dialing(
            conn, [call], owner=desk.worker_id, now=now, lease_ms=desk.lease_ms
        ).get(call.id)
        if attempt is None:
            return None
    claimed = replace(call, status=CallStatus.DIALING, attempt=attempt, start_at=now, updated_at=now)
    desk.adopt(claimed, now)
    return claimed
