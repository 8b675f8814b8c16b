"""Call rows: fetch, and forward-only status transitions (new rows: `store.creating`).

Every status change is one conditional UPDATE whose WHERE clause names the statuses the call may
be in (`PREDECESSORS`) and, for a leased call, the attempt that holds the lease (the fence).
`rowcount == 0` means someone else moved the call first; the caller decides what that means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    BindParameter,
    Column,
    ColumnElement,
    Connection,
    Select,
    Subquery,
    Update,
    bindparam,
    literal,
    literal_column,
    select,
    union_all,
    update,
)

from callplane.domain.call import (
    PREDECESSORS,
    AgentRef,
    Call,
    CallAnalysis,
    CallStatus,
    CallType,
    Direction,
    DisconnectionReason,
    Sentiment,
)
from callplane.store import outbox, search
from callplane.store.creating import listed_at_of, metadata_index_rows
from callplane.store.prepared import Prepared, param
from callplane.store.schema import call_meta, calls

_SUMMARY_COLUMNS: tuple[Column[Any], ...] = tuple(
    c for c in calls.c if c.name not in ("transcript", "search_text", "collected")
)
#: What a list page selects: everything but the transcript, which costs 7x the bytes.
SUMMARY_COLUMNS = _SUMMARY_COLUMNS
FULL_COLUMNS = (*_SUMMARY_COLUMNS, calls.c.transcript)


def _analysis(data: dict[str, Any] | None) -> CallAnalysis | None:
    if data is None:
        return None
    sentiment = data.get("user_sentiment")
    return CallAnalysis(
        summary=data.get("summary"),
        user_sentiment=_SENTIMENTS[sentiment] if sentiment else None,
        custom_analysis_data=data.get("custom_analysis_data") or [],
        call_successful=data.get("call_successful"),
        in_voicemail=data.get("in_voicemail"),
    )


_READ = (
    "id", "organization_id", "agent_id", "agent_version_spec", "agent_version", "call_type", "direction",
    "status", "from_number", "to_number", "presentation_number", "created_at", "updated_at", "due_at",
    "metadata", "dynamic_variables", "opt_out", "variant_label", "disconnection_reason", "start_at",
    "answered_at", "end_at", "duration_ms", "recording_key", "analysis", "cost_minor", "error_detail",
    "attempt", "telephony_id", "campaign_id", "campaign_task",
)  # fmt: skip
# Plain dict lookups: calling an enum class costs ~2 µs a value, noticeable on a page of 50.
_CALL_TYPES = {v.value: v for v in CallType}
_DIRECTIONS = {v.value: v for v in Direction}
_STATUSES = {v.value: v for v in CallStatus}
_REASONS = {v.value: v for v in DisconnectionReason}
_SENTIMENTS = {v.value: v for v in Sentiment}


def row_to_call(row: Any, *, with_transcript: bool) -> Call:
    return rows_to_calls([row], with_transcript=with_transcript)[0]


def rows_to_calls(rows: Sequence[Any], *, with_transcript: bool) -> list[Call]:
    """Calls from rows that hold at least the summary columns (and `transcript` if asked for).

    Values are read by position through one `itemgetter` built from the rows' own column names:
    attribute access on a row costs about as much again as building the call.
    """
    if not rows:
        return []
    position = {name: i for i, name in enumerate(rows[0]._fields)}
    read = itemgetter(*(position[name] for name in _READ))
    transcript_at = position["transcript"] if with_transcript else None
    # Not every caller's rows carry it (lists that name their columns); only workers need it.
    request_id_at = position.get("request_id")
    out = []
    for row in rows:
        transcript = stored = None
        if transcript_at is not None:
            transcript = row[transcript_at]
            if isinstance(transcript, str):
                # A list page selects the stored text (`listing.TRANSCRIPT_TEXT`): kept beside
                # the decoded entries for renderers that can pass it through.
                stored, transcript = transcript, orjson.loads(transcript)
        (
            id_, org, agent_id, spec, version, call_type, direction, status, from_number, to_number,
            presentation, created_at, updated_at, due_at, metadata, variables, opt_out, label, reason,
            start_at, answered_at, end_at, duration_ms, recording_key, analysis, cost_minor, error_detail,
            attempt, telephony_id, campaign_id, campaign_task,
        ) = read(row)  # fmt: skip
        out.append(
            Call(
                id=id_,
                organization_id=org,
                agent=AgentRef(agent_id, spec, version),
                call_type=_CALL_TYPES[call_type],
                direction=_DIRECTIONS[direction],
                status=_STATUSES[status],
                from_number=from_number,
                to_number=to_number,
                presentation_number=presentation,
                created_at=created_at,
                updated_at=updated_at,
                due_at=due_at,
                metadata=metadata,
                dynamic_variables=variables,
                opt_out_sensitive_data_storage=bool(opt_out),
                variant_label=label,
                disconnection_reason=_REASONS[reason] if reason else None,
                start_at=start_at,
                answered_at=answered_at,
                end_at=end_at,
                duration_ms=duration_ms,
                recording_key=recording_key,
                transcript=transcript,
                transcript_loaded=with_transcript,
                transcript_json=stored,
                analysis=_analysis(analysis),
                cost_minor=cost_minor,
                error_detail=error_detail,
                attempt=attempt,
                telephony_id=telephony_id,
                campaign_id=campaign_id,
                campaign_task=campaign_task,
                request_id=row[request_id_at] if request_id_at is not None else None,
            )
        )
    return out


def get_call(
    conn: Connection, organization_id: str, call_id: str, *, with_transcript: bool = True
) -> Call | None:
    """The call, or None — also when it belongs to another organisation."""
    statement = _GET_FULL if with_transcript else _GET_SUMMARY
    row = conn.execute(statement, {"o": organization_id, "i": call_id}).first()
    return row_to_call(row, with_transcript=with_transcript) if row is not None else None


def _get(columns: Sequence[ColumnElement[Any]]) -> Select[Any]:
    # Built once: the worker reads a call for each webhook event it writes, and building the
    # statement cost as much as running it.
    return select(*columns).where(
        calls.c.organization_id == bindparam("o", type_=calls.c.organization_id.type),
        calls.c.id == bindparam("i", type_=calls.c.id.type),
    )


_GET_FULL = _get(FULL_COLUMNS)
_GET_SUMMARY = _get(SUMMARY_COLUMNS)


def get_calls(conn: Connection, organization_id: str, call_ids: Sequence[str]) -> list[Call]:
    if not call_ids:
        return []
    rows = conn.execute(
        select(*FULL_COLUMNS).where(calls.c.organization_id == organization_id, calls.c.id.in_(call_ids))
    ).all()
    return rows_to_calls(rows, with_transcript=True)


def move(
    conn: Connection, organization_id: str, call_id: str, new: CallStatus, now: int, **changes: Any
) -> bool:
    """Move a call to `new` if the state machine allows it from where the call is now.

    `fence=` restricts the move to the lease holder's attempt; `also=` adds conditions (the
    reaper: "the lease is still expired"). Other keyword arguments are column values to set in
    the same statement (`_moving`). Returns whether the call moved.
    """
    prepared = _prepared_move(new, announcing=False, **changes)
    if prepared is not None:
        return bool(prepared.rowcount(conn, **_move_params(organization_id, call_id, now, **changes)))
    return bool(conn.execute(_moving(organization_id, call_id, new, now, **changes)).rowcount)


#: The organisation of the `calls` row an UPDATE changes, for a subquery in its RETURNING. Written
#: out qualified: SQLAlchemy renders an UPDATE's own columns bare on SQLite, and a bare
#: `organization_id` inside the subquery would name the subquery's own table's column.
CHANGED_ORGANIZATION: ColumnElement[str] = literal_column("calls.organization_id")


@dataclass(frozen=True, slots=True)
class Moved:
    """A change clients hear about was made (`move_announcing`)."""

    #: The organisation's enabled webhook endpoints as the change saw them (`outbox.enabled_ids`;
    #: None: it has none).
    endpoints: str | None
    #: The call as the change left it (`FULL_COLUMNS`): its events are rendered from this row.
    row: Any

    def call(self) -> Call:
        return row_to_call(self.row, with_transcript=True)


def move_announcing(
    conn: Connection, organization_id: str, call_id: str, new: CallStatus, now: int, **changes: Any
) -> Moved | None:
    """`move` (the same `fence`, `also` and values) for a change that writes a webhook event:
    None if the call did not move. The same statement returns the row as it left it and the
    organisation's enabled webhook endpoints (`outbox.enabled_ids`), so the event reads neither."""
    prepared = _prepared_move(new, announcing=True, **changes)
    if prepared is not None:
        row = prepared.first_row(conn, **_move_params(organization_id, call_id, now, **changes))
    else:
        statement = _moving(organization_id, call_id, new, now, **changes)
        row = conn.execute(statement.returning(*_announced(calls))).first()
    return Moved(row[-1], row) if row is not None else None


def _announced(target: Any) -> tuple[ColumnElement[Any], ...]:
    """What an announcing move returns: the row whole, then its organisation's endpoints."""
    return (*(target.c[c.name] for c in FULL_COLUMNS), outbox.enabled_ids(CHANGED_ORGANIZATION))


#: The worker's moves (no `also=`), one `Prepared` per shape: its status, fenced or not, the
#: columns it sets, and whether it asks for the organisation's endpoints.
_MOVES: dict[tuple[CallStatus, bool, tuple[str, ...], bool], Prepared] = {}


def _prepared_move(
    new: CallStatus,
    *,
    announcing: bool,
    fence: int | None = None,
    also: Sequence[ColumnElement[bool]] = (),
    **values: Any,
) -> Prepared | None:
    """The prepared form of a move (`store.prepared`); None for one with extra conditions, which
    are expressions (the reaper's, an unfenced cancel's) and go through Core."""
    if also:
        return None
    shape = (new, fence is not None, tuple(sorted(values)), announcing)
    prepared = _MOVES.get(shape)
    if prepared is None:

        def build(_dialect: str) -> Update:
            target = search.insert_target("postgresql", calls) if "search_grams" in values else calls
            binds: dict[str, Any] = {name: param(f"v_{name}", target.c[name].type) for name in shape[2]}
            statement = _moving(
                param("p_org", calls.c.organization_id.type),
                param("p_id", calls.c.id.type),
                new,
                param("p_now", calls.c.updated_at.type),
                fence=param("p_fence", calls.c.attempt.type) if fence is not None else None,
                **binds,
            )
            return statement.returning(*_announced(target)) if announcing else statement

        prepared = _MOVES[shape] = Prepared(build)
    return prepared


def _move_params(
    organization_id: str,
    call_id: str,
    now: int,
    *,
    fence: int | None = None,
    also: Sequence[ColumnElement[bool]] = (),
    **values: Any,
) -> dict[str, Any]:
    params = {f"v_{name}": value for name, value in values.items()}
    params.update(p_org=organization_id, p_id=call_id, p_now=now, p_fence=fence)
    return params


def _moving(
    organization_id: str | BindParameter[str],
    call_id: str | BindParameter[str],
    new: CallStatus,
    now: int | BindParameter[int],
    *,
    fence: int | BindParameter[int] | None = None,
    also: Sequence[ColumnElement[bool]] = (),
    **values: Any,
) -> Update:
    allowed = [s.value for s in PREDECESSORS[new]]
    # PostgreSQL's search grams are not a column of `schema.calls`: a move that stores them
    # targets `calls` with its gram column (`search.insert_target`), whose own columns the
    # conditions must name (another table object's would join `calls` to itself).
    target = search.insert_target("postgresql", calls) if "search_grams" in values else calls
    assert target is calls or not also, "extra conditions name schema.calls' columns"
    conditions = [
        target.c.organization_id == organization_id,
        target.c.id == call_id,
        target.c.status.in_(allowed),
    ]
    if fence is not None:
        conditions.append(target.c.attempt == fence)
    conditions.extend(also)
    return update(target).where(*conditions).values(status=new.value, updated_at=now, **values)


def move_metadata_index(conn: Connection, moved: Sequence[Call], listed_at: int) -> None:
    """The metadata index is keyed by the list position too (a count with a `listed_at` range
    stays in the index): follow the calls' new one, set with their claim. One statement for a
    claim pass's calls (up to `_META_CHUNK` rows), each row found by its whole primary key."""
    keys = [
        (r["organization_id"], r["key"], r["value"], r["listed_at"], r["call_id"])
        for call in moved
        for r in metadata_index_rows(call.organization_id, call.id, listed_at_of(call), call.metadata)
    ]
    for start in range(0, len(keys), _META_CHUNK):
        rows = literal_rows(_META_KEY, keys[start : start + _META_CHUNK], "moved")
        conn.execute(
            update(call_meta).where(*(c == rows.c[c.name] for c in _META_KEY)).values(listed_at=listed_at)
        )


def literal_rows(columns: Sequence[ColumnElement[Any]], rows: Sequence[Sequence[Any]], name: str) -> Subquery:
    """`rows` as a derived table with `columns`' names and types, to join a batch on a key: a
    row-value IN list over the same columns is planned as a scan (of every queued call, of the
    whole `call_meta`) on both databases."""
    return union_all(
        *(
            select(*(literal(v, c.type).label(c.name) for v, c in zip(row, columns, strict=True)))
            for row in rows
        )
    ).subquery(name)


_META_KEY = (
    call_meta.c.organization_id,
    call_meta.c.key,
    call_meta.c.value,
    call_meta.c.listed_at,
    call_meta.c.call_id,
)
#: Rows per statement: five parameters each, under PostgreSQL's 65,535 per statement.
_META_CHUNK = 1000


def request_end(conn: Connection, organization_id: str, call_id: str, now: int) -> None:
    """Ask the worker running a live call to end it (it checks between turns)."""
    conn.execute(
        update(calls)
        .where(
            calls.c.organization_id == organization_id,
            calls.c.id == call_id,
            calls.c.end_requested_at.is_(None),
        )
        .values(end_requested_at=now, updated_at=now)
    )
