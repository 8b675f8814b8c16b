"""Status changes that carry data: answering, the terminal transition, and the post-call step.

Each is one fenced, forward-only `calls.move()`. The terminal transition stores how the call
ended (transcript through `search.index_transcript`, so the search index stays in step; a
transcript left out keeps the one stored as the call went, `store.progress`), clears
the lease and sets `postcall_due_at`: post-call is a durable step created in the same
transaction as the end, for every terminal call. The caller writes the outbox rows in that same
transaction.

Post-call is claimed like a queue entry with a visibility timeout: the claim pushes
`postcall_due_at` forward by a lease and bumps `postcall_attempts`, which fences the completion —
a post-call run whose claim was taken over by another worker cannot complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, select, tuple_, update

from callplane.domain.call import (
    AgentRef,
    Call,
    CallAnalysis,
    CallStatus,
    DisconnectionReason,
    TranscriptEntry,
)
from callplane.store import calls as call_store
from callplane.store import creating, outbox, progress, search
from callplane.store.calls import Moved
from callplane.store.prepared import Prepared, param
from callplane.store.schema import calls


def answer(
    conn: Connection,
    organization_id: str,
    call_id: str,
    *,
    fence: int,
    at: int,
    now: int,
    telephony_id: str | None = None,
) -> Moved | None:
    """`dialing|ringing → ongoing`; with the carrier's id when no ringing stored it."""
    ids = {"telephony_id": telephony_id} if telephony_id is not None else {}
    return call_store.move_announcing(
        conn, organization_id, call_id, CallStatus.ONGOING, now, fence=fence, answered_at=at, **ids
    )


def answered_under(conn: Connection, organization_id: str, call_id: str, *, fence: int) -> bool:
    """Whether the call is `ongoing` under attempt `fence`: only that attempt's own answer puts
    it there, so a retry whose first commit landed (its acknowledgement lost) finds it so."""
    status = conn.execute(
        select(calls.c.status).where(
            calls.c.organization_id == organization_id, calls.c.id == call_id, calls.c.attempt == fence
        )
    ).scalar_one_or_none()
    return status == CallStatus.ONGOING.value


def ring(
    conn: Connection, organization_id: str, call_id: str, *, fence: int, telephony_id: str, now: int
) -> bool:
    return call_store.move(
        conn, organization_id, call_id, CallStatus.RINGING, now, fence=fence, telephony_id=telephony_id
    )


@dataclass(frozen=True, slots=True)
class Analysed:
    """Post-call done with the end (an analyser with nothing to wait for): stored in the terminal
    UPDATE itself, and no post-call step is made due."""

    analysis: CallAnalysis | None
    cost_minor: int


@dataclass(frozen=True, slots=True)
class Ending:
    """What the terminal transition stores. Sensitive parts are dropped here when opted out."""

    status: CallStatus
    reason: DisconnectionReason
    end_at: int
    duration_ms: int | None = None
    answered_at: int | None = None
    telephony_id: str | None = None
    transcript: list[TranscriptEntry] | None = None
    collected: dict[str, Any] | None = None
    recording_key: str | None = None  #: where the worker stored the recording (engine/blobs)
    error_detail: str | None = None
    postcall: Analysed | None = None


def finish(
    conn: Connection,
    organization_id: str,
    call_id: str,
    ending: Ending,
    *,
    now: int,
    opt_out: bool,
    fence: int | None,
    also: Sequence[ColumnElement[bool]] = (),
) -> Moved | None:
    """Move a call to its terminal status and store how it ended; None if it was not ours to end."""
    values: dict[str, Any] = {
        "disconnection_reason": ending.reason.value,
        "end_at": ending.end_at,
        "duration_ms": ending.duration_ms,
        "error_detail": ending.error_detail,
        "lease_owner": None,
        "lease_expires_at": None,
        "postcall_due_at": now,
    }
    if ending.postcall is not None:
        values.update(_analysed_values(ending.postcall.analysis, ending.postcall.cost_minor))
        values["postcall_due_at"] = None
    if ending.answered_at is not None:
        values["answered_at"] = ending.answered_at
    if ending.telephony_id is not None:
        values["telephony_id"] = ending.telephony_id
    if not opt_out:
        # Opted out: transcript, recording and collected values are never stored (they stay NULL).
        # None keeps what the worker stored as the call went (`store.progress`): a reaped call
        # keeps what was said before its worker was lost.
        if ending.transcript is not None:
            values["transcript"] = ending.transcript
        if ending.collected is not None:
            values["collected"] = ending.collected
        values["recording_key"] = ending.recording_key
    if ending.status is CallStatus.CANCELED and fence is None:
        # Without the lease's fence only a queued call is withdrawn; a live attempt is hung up by
        # the worker that holds it (which ends it with its fence).
        also = (*also, calls.c.status == CallStatus.QUEUED.value)
    # The worker's end (its outcome carries the transcript, no extra condition): the search text
    # goes into the terminal UPDATE itself — a second UPDATE of the row would write a second row
    # version (on PostgreSQL through every index of `calls` again); PostgreSQL's grams with it.
    in_one = not opt_out and ending.transcript is not None and not also
    text_value = search.text_of(ending.transcript) if in_one else None
    sqlite_terms = False
    if in_one and conn.dialect.name == "postgresql":
        values.update(search_text=text_value, **search.pg_insert_values(organization_id, text_value))
    elif in_one:
        # SQLite's terms live in FTS5 rows, added after the move. A call that already has search
        # text (created with a transcript) has terms to replace: `index_transcript` below.
        stored = _STORED_TEXT.first(conn, o=organization_id, i=call_id)
        in_one = sqlite_terms = stored is not None and stored[0] is None
        if in_one:
            values["search_text"] = text_value
    moved = call_store.move_announcing(
        conn, organization_id, call_id, ending.status, now, fence=fence, also=also, **values
    )
    if moved is not None and sqlite_terms and text_value:
        search.index_new_calls(conn, [(organization_id, call_id, text_value)])
    if moved is not None and not opt_out and not in_one:
        transcript = (
            ending.transcript
            if ending.transcript is not None
            else progress.transcript(conn, organization_id, call_id)
        )
        if transcript:
            search.index_transcript(conn, organization_id, call_id, transcript)
    return moved


_STORED_TEXT = Prepared(
    lambda _dialect: select(calls.c.search_text).where(
        calls.c.organization_id == param("o", calls.c.organization_id.type),
        calls.c.id == param("i", calls.c.id.type),
    )
)


def collected(conn: Connection, organization_id: str, call_id: str) -> dict[str, Any]:
    row = conn.execute(
        select(calls.c.collected).where(calls.c.organization_id == organization_id, calls.c.id == call_id)
    ).first()
    return dict(row.collected or {}) if row is not None else {}


@dataclass(frozen=True, slots=True)
class PostCallClaim:
    organization_id: str
    call_id: str
    agent: AgentRef
    fence: int  #: postcall_attempts after the claim
    call: Call  #: as the claim found it, transcript included
    collected: dict[str, Any]  #: the values its agent collected


def postcall_due(conn: Connection, now: int) -> bool:
    """A cheap read before taking the write lock: is any post-call step due?"""
    query = select(calls.c.id).where(calls.c.postcall_due_at.is_not(None), calls.c.postcall_due_at <= now)
    return conn.execute(query.limit(1)).first() is not None


def claim_postcall(conn: Connection, now: int, lease_ms: int, limit: int) -> list[PostCallClaim]:
    """Take due post-call work: hide it for `lease_ms` and bump the attempt that fences it.

    One statement for the whole batch (PostgreSQL: its rows taken `FOR UPDATE SKIP LOCKED`),
    returning each call whole with its collected values: post-call reads nothing else of it."""
    due = (
        select(calls.c.organization_id, calls.c.id)
        .where(calls.c.postcall_due_at.is_not(None), calls.c.postcall_due_at <= now)
        .order_by(calls.c.postcall_due_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=calls)
    rows = conn.execute(
        update(calls)
        .where(tuple_(calls.c.organization_id, calls.c.id).in_(due))
        .values(postcall_due_at=now + lease_ms, postcall_attempts=calls.c.postcall_attempts + 1)
        .returning(*call_store.FULL_COLUMNS, calls.c.collected)
    ).all()
    found = call_store.rows_to_calls(rows, with_transcript=True)
    return [
        PostCallClaim(
            call.organization_id, call.id, call.agent, r.postcall_attempts, call, dict(r.collected or {})
        )
        for call, r in zip(found, rows, strict=True)
    ]


def complete_postcall(
    conn: Connection,
    claim: PostCallClaim,
    *,
    analysis: CallAnalysis | None,
    cost_minor: int,
    now: int,
) -> Moved | None:
    """Store analysis and cost and close the post-call step; None if the claim was taken over."""
    row = conn.execute(
        update(calls)
        .where(
            calls.c.organization_id == claim.organization_id,
            calls.c.id == claim.call_id,
            calls.c.postcall_attempts == claim.fence,
            calls.c.postcall_due_at.is_not(None),
        )
        .values(**_analysed_values(analysis, cost_minor), postcall_due_at=None, updated_at=now)
        .returning(*call_store.FULL_COLUMNS, outbox.enabled_ids(call_store.CHANGED_ORGANIZATION))
    ).first()
    return Moved(row[-1], row) if row is not None else None


def _analysed_values(analysis: CallAnalysis | None, cost_minor: int) -> dict[str, Any]:
    return {
        "analysis": creating.analysis_to_json(analysis),
        "user_sentiment": (
            analysis.user_sentiment.value if analysis is not None and analysis.user_sentiment else None
        ),
        "cost_minor": cost_minor,
    }


def retry_postcall(conn: Connection, claim: PostCallClaim, due_at: int) -> None:
    conn.execute(
        update(calls)
        .where(
            calls.c.organization_id == claim.organization_id,
            calls.c.id == claim.call_id,
            calls.c.postcall_attempts == claim.fence,
        )
        .values(postcall_due_at=due_at)
    )


def schedule_postcall(conn: Connection, organization_id: str, call_id: str, due_at: int) -> None:
    """Make a terminal call's post-call due again (operators re-running analysis; tests)."""
    conn.execute(
        update(calls)
        .where(calls.c.organization_id == organization_id, calls.c.id == call_id)
        .values(postcall_due_at=due_at)
    )
