"""New call rows: what a create reads to check its rules, and the inserts of new calls.

`create_facts` and `insert_call` are the create path (`engine.services.calls`, one call per
request, so their statements are prepared once: `store.prepared`); `insert_calls` writes a batch
(the loader, the carrier's inbound calls with words, tests) and `insert_call` defers to it for a
call that comes with its transcript. Both write the same columns (`_values`) and the same
metadata index rows (`metadata_index_rows`, which `store.calls.move_metadata_index` follows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from sqlalchemy import BindParameter, ColumnElement, Connection, and_, exists, insert, literal, select

from callplane.domain.agent import Agent
from callplane.domain.call import AgentRef, Call, CallAnalysis, CallStatus, CallType, Direction
from callplane.domain.ids import normalize_uuid
from callplane.store import search
from callplane.store.prepared import Prepared, param
from callplane.store.schema import agents, call_meta, calls, phone_numbers, presentation_numbers, suppressions


def meta_value(value: Any) -> str:
    """A metadata value as the `call_meta` side table holds it, and filters compare it."""
    return orjson.dumps(value).decode()


def metadata_index_rows(
    organization_id: str, call_id: str, listed_at: int, metadata: dict[str, Any]
) -> list[dict[str, Any]]:
    """The metadata equality index (`call_meta`): one row per scalar value, the value as JSON."""
    return [
        {
            "organization_id": organization_id,
            "key": key,
            "value": meta_value(value),
            "listed_at": listed_at,
            "call_id": call_id,
        }
        for key, value in metadata.items()
        if isinstance(value, (str, int, float, bool)) and len(key) <= 200
    ]


def insert_call(conn: Connection, call: Call) -> None:
    """One new call (a create): what `insert_calls` writes, by statements prepared once
    (`store.prepared`: building and compiling the Core inserts cost most of their time)."""
    if call.transcript:  # a call that comes with its words: the batch path indexes them
        insert_calls(conn, [call])
        return
    values = _values(call)
    values["search_text"] = None
    if conn.dialect.name == "postgresql":
        values.update(search.pg_insert_values(call.organization_id, None))
    _INSERT_NEW.execute(conn, values)
    meta = metadata_index_rows(call.organization_id, call.id, listed_at_of(call), call.metadata)
    if len(meta) > _META_PREPARED_UP_TO:
        conn.execute(insert(call_meta), meta)
    elif meta:
        # One statement for all of them (a round trip each would cost more on PostgreSQL).
        prepared = _INSERT_META.get(len(meta))
        if prepared is None:
            prepared = _INSERT_META[len(meta)] = Prepared(partial(_insert_meta, len(meta)))
        prepared.execute(conn, {f"{k}_{i}": v for i, row in enumerate(meta) for k, v in row.items()})


def _insert_new(dialect: str) -> Any:
    # The columns are those `_values` writes, so the prepared insert cannot miss one it gains.
    blank = Call(
        id="", organization_id="", agent=AgentRef("", "current", 1), call_type=CallType.OUTBOUND,
        direction=Direction.OUTBOUND, status=CallStatus.QUEUED, from_number=None, to_number=None,
        presentation_number=None, created_at=0, updated_at=0, due_at=0, metadata={}, dynamic_variables={},
    )  # fmt: skip
    target = search.insert_target(dialect, calls)
    names = [*_values(blank), "search_text", *(["search_grams"] if dialect == "postgresql" else [])]
    return insert(target).values({name: param(name, target.c[name].type) for name in names})


def _insert_meta(rows: int, _dialect: str) -> Any:
    return insert(call_meta).values(
        [{c.name: param(f"{c.name}_{i}", c.type) for c in call_meta.c} for i in range(rows)]
    )


_INSERT_NEW = Prepared(_insert_new)
#: A new call's metadata rows in one multi-row INSERT, prepared per number of rows up to this;
#: more (rare) go through Core's executemany.
_META_PREPARED_UP_TO = 16
_INSERT_META: dict[int, Prepared] = {}


@dataclass(frozen=True, slots=True)
class CreateFacts:
    """What the rules of a create read, in one statement (`create_facts`)."""

    owns_number: bool  #: the organisation owns the from_number
    presentation_approved: bool  #: the presentation number is approved for it (False if none given)
    suppressed: bool  #: the to_number is on its do-not-call list
    agent: Agent | None  #: the agent asked for, None if it has none by that id


def _create_facts(_dialect: str) -> Any:
    org = param("org", calls.c.organization_id.type)

    def present(table: Any, number: BindParameter[str], *also: ColumnElement[bool]) -> Any:
        return exists().where(table.c.organization_id == org, table.c.number == number, *also)

    owned = present(phone_numbers, param("from_number", phone_numbers.c.number.type))
    approved = present(
        presentation_numbers,
        param("presentation", presentation_numbers.c.number.type),
        presentation_numbers.c.approved_at.is_not(None),
    )
    suppressed = present(suppressions, param("to_number", suppressions.c.number.type))
    # One row whether or not the agent exists: the numbers' answers come with it either way.
    one = select(literal(1).label("one")).subquery("one")
    found = one.outerjoin(
        agents, and_(agents.c.organization_id == org, agents.c.id == param("agent", agents.c.id.type))
    )
    return select(
        owned, approved, suppressed, agents.c.id, agents.c.name, agents.c.current_version,
        agents.c.production_version, agents.c.created_at,
    ).select_from(found)  # fmt: skip


_CREATE_FACTS = Prepared(_create_facts)


def create_facts(
    conn: Connection,
    organization_id: str,
    from_number: str,
    to_number: str,
    presentation_number: str | None,
    agent_id: str | None,
) -> CreateFacts:
    """The line, the callee and the agent of a new call, as `numbers.owns_number`,
    `numbers.is_approved_presentation`, `numbers.is_suppressed` and `agents.get_agent` read them,
    in one round trip (`agent_id` None, or no UUID: no agent)."""
    canonical = normalize_uuid(agent_id) if agent_id is not None else None
    row = _CREATE_FACTS.first(
        conn,
        org=organization_id,
        from_number=from_number,
        to_number=to_number,
        presentation=presentation_number,
        agent=canonical,
    )
    assert row is not None  # the outer join's one row
    owned, approved, suppressed, id_, name, current, production, created_at = row
    agent = Agent(id_, organization_id, name, current, production, created_at) if id_ is not None else None
    return CreateFacts(bool(owned), bool(approved), bool(suppressed), agent)


def insert_calls(conn: Connection, batch: Sequence[Call]) -> None:
    """Insert new calls with their search text and index terms: one statement per table."""
    if not batch:
        return
    dialect = conn.dialect.name
    rows = []
    for call in batch:
        values = _values(call)
        values["search_text"] = search.text_of(call.transcript)
        if dialect == "postgresql":
            values.update(search.pg_insert_values(call.organization_id, values["search_text"]))
        rows.append(values)
    conn.execute(insert(search.insert_target(dialect, calls)), rows)
    search.index_new_calls(conn, [(r["organization_id"], r["id"], r["search_text"]) for r in rows])
    meta = [
        row
        for call in batch
        for row in metadata_index_rows(call.organization_id, call.id, listed_at_of(call), call.metadata)
    ]
    if meta:
        conn.execute(insert(call_meta), meta)


def listed_at_of(call: Call) -> int:
    return call.start_at if call.start_at is not None else call.created_at


def _values(call: Call) -> dict[str, Any]:
    """The columns of a new call's row (`_INSERT_NEW` takes its names from here)."""
    return {
        "organization_id": call.organization_id,
        "id": call.id,
        "agent_id": call.agent.agent_id,
        "agent_version": call.agent.version,
        "agent_version_spec": call.agent.requested_version,
        "call_type": call.call_type.value,
        "direction": call.direction.value,
        "status": call.status.value,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "presentation_number": call.presentation_number,
        "variant_label": call.variant_label,
        "created_at": call.created_at,
        "updated_at": call.updated_at,
        "due_at": call.due_at,
        "listed_at": listed_at_of(call),
        "start_at": call.start_at,
        "answered_at": call.answered_at,
        "end_at": call.end_at,
        "duration_ms": call.duration_ms,
        "disconnection_reason": call.disconnection_reason.value if call.disconnection_reason else None,
        "user_sentiment": (
            call.analysis.user_sentiment.value if call.analysis and call.analysis.user_sentiment else None
        ),
        "metadata": call.metadata,
        "dynamic_variables": call.dynamic_variables,
        "transcript": call.transcript,
        "recording_key": call.recording_key,
        "analysis": analysis_to_json(call.analysis),
        "cost_minor": call.cost_minor,
        "opt_out": call.opt_out_sensitive_data_storage,
        "error_detail": call.error_detail,
        "telephony_id": call.telephony_id,
        "attempt": call.attempt,
        "postcall_attempts": 0,
        "campaign_id": call.campaign_id,
        "campaign_task": call.campaign_task,
        "request_id": call.request_id,
    }


def analysis_to_json(analysis: CallAnalysis | None) -> dict[str, Any] | None:
    if analysis is None:
        return None
    return {
        "summary": analysis.summary,
        "user_sentiment": analysis.user_sentiment.value if analysis.user_sentiment else None,
        "custom_analysis_data": analysis.custom_analysis_data,
        "call_successful": analysis.call_successful,
        "in_voicemail": analysis.in_voicemail,
    }
