"""Status changes that clients hear about: each moves the call and writes its webhook event in the
same transaction (the transactional outbox), so an event exists exactly when its change does.

Used by the worker (answered, finished), the dispatcher (refusals at dial time), the reaper
(lost workers) and `CallService.cancel` (a queued call withdrawn).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection

from callplane.domain.call import Call
from callplane.engine import metrics
from callplane.engine.services.webhooks import EventType, emit, emit_all
from callplane.store import ledger, lifecycle
from callplane.store.lifecycle import Ending


def answered(
    conn: Connection, call: Call, *, fence: int, at: int, now: int, telephony_id: str | None = None
) -> bool:
    """`dialing|ringing → ongoing` and the `call_started` event; `telephony_id` is stored with it
    when its ringing was not (folded into the answer). True also when this attempt's answer is
    stored already (a retry after a commit whose acknowledgement was lost): nothing is written
    twice, and the run does not hold its records back from a call that is live."""
    moved = lifecycle.answer(
        conn, call.organization_id, call.id, fence=fence, at=at, now=now, telephony_id=telephony_id
    )
    if moved is None:
        return lifecycle.answered_under(conn, call.organization_id, call.id, fence=fence)
    emit(conn, moved, call.agent, EventType.CALL_STARTED, now)
    return True


def ended(
    conn: Connection,
    call: Call,
    ending: Ending,
    *,
    now: int,
    fence: int | None,
    also: Sequence[ColumnElement[bool]] = (),
) -> bool:
    """The terminal transition (post-call becomes due) and the `call_ended` event; with
    `ending.postcall`, post-call done in the same transaction (cost settled, `call_analyzed`)."""
    moved = lifecycle.finish(
        conn,
        call.organization_id,
        call.id,
        ending,
        now=now,
        opt_out=call.opt_out_sensitive_data_storage,
        fence=fence,
        also=also,
    )
    if moved is not None:
        events = [EventType.CALL_ENDED]
        if ending.postcall is not None:
            # Post-call done with the end: what `engine.jobs.postcall` does at its completion.
            if ending.postcall.cost_minor > 0:
                ledger.settle(conn, call.organization_id, call.id, ending.postcall.cost_minor, now)
            events.append(EventType.CALL_ANALYZED)
        emit_all(conn, moved, call.agent, events, now)
        # Counted when the change is made, before its commit: a rare rolled-back transition
        # (a database failure in the same transaction) is counted as well.
        metrics.calls_finished.labels(ending.status.value, ending.reason.value).inc()
    return moved is not None


def duration_ms(call: Call, end_at: int) -> int | None:
    """Vox `duration_ms`: from the start of dialling to the end; None for a call never dialled."""
    return max(0, end_at - call.start_at) if call.start_at is not None else None
