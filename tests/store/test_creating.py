"""`store.creating`: the create path's rule facts and prepared inserts agree with the reads and
the batch insert they stand in for."""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Any

import pytest
from sqlalchemy import select

from callplane.domain.call import AgentRef, Call, CallStatus, CallType, Direction
from callplane.domain.errors import NotFound
from callplane.domain.ids import new_id
from callplane.engine.clock import FixedClock
from callplane.store import agents as agent_store
from callplane.store import calls as call_store
from callplane.store import creating
from callplane.store import numbers as number_store
from callplane.store.db import Database
from callplane.store.schema import call_meta, calls
from tests.factories import make_tenant


def _stored(db: Database, organization_id: str, call_id: str) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    with db.read() as conn:
        row = conn.execute(
            select(calls).where(calls.c.organization_id == organization_id, calls.c.id == call_id)
        ).one()
        meta = conn.execute(
            select(call_meta.c.key, call_meta.c.value, call_meta.c.listed_at)
            .where(call_meta.c.organization_id == organization_id, call_meta.c.call_id == call_id)
            .order_by(call_meta.c.key)
        ).all()
    return {k: v for k, v in row._mapping.items() if k not in ("id", "rid")}, [tuple(m) for m in meta]


MIXED = {"crm": "lead_1", "n": 3, "f": 1.5, "ok": True, "nested": {"a": 1}, "none": None, "한": "값"}


@pytest.mark.parametrize(
    "metadata", [{}, {"one": "1"}, MIXED, {f"k{i}": i for i in range(20)}], ids=["none", "one", "mixed", "20"]
)
def test_a_single_insert_stores_what_the_batch_insert_stores(db: Database, metadata: dict[str, Any]) -> None:
    """`insert_call` runs prepared statements (one multi-row insert of up to 16 metadata rows,
    Core's executemany past that); `insert_calls` (the loader's) runs Core's."""
    clock = FixedClock(1_700_000_000_000)
    tenant = make_tenant(db, clock.now_ms())
    org = tenant.organization_id
    template = Call(
        id="", organization_id=org, agent=AgentRef(tenant.agent_id, "current", 1),
        call_type=CallType.OUTBOUND, direction=Direction.OUTBOUND, status=CallStatus.QUEUED,
        from_number=tenant.from_number, to_number="+821012345678",
        presentation_number=tenant.presentation_number, created_at=clock.now_ms(),
        updated_at=clock.now_ms(), due_at=clock.now_ms(), opt_out_sensitive_data_storage=True,
        metadata=metadata,
        dynamic_variables={"customer_name": "홍길동"}, campaign_id=None, request_id="req-1",
    )  # fmt: skip
    single, batch = replace(template, id=new_id()), replace(template, id=new_id())
    with db.write() as conn:
        creating.insert_call(conn, single)
        creating.insert_calls(conn, [batch])
    assert _stored(db, org, single.id) == _stored(db, org, batch.id)
    with db.read() as conn:
        read_single, read_batch = (
            call_store.get_call(conn, org, single.id),
            call_store.get_call(conn, org, batch.id),
        )
    assert read_single is not None and read_batch is not None
    assert read_single == replace(read_batch, id=single.id)


def test_create_facts_answer_as_the_four_reads_do(db: Database) -> None:
    clock = FixedClock(1_700_000_000_000)
    tenant, other = make_tenant(db, clock.now_ms()), make_tenant(db, clock.now_ms(), name="other")
    org = tenant.organization_id
    with db.write() as conn:
        number_store.suppress(conn, org, "+821099998888", "asked", clock.now_ms())
        number_store.request_presentation_number(conn, org, "+82299990000", clock.now_ms())
    agents_to_try = [tenant.agent_id, tenant.agent_id.upper(), other.agent_id, "not-a-uuid", None]
    numbers = [tenant.from_number, other.from_number, "+821012345678"]
    callees = ["+821012345678", "+821099998888"]
    presentations = [None, tenant.presentation_number, other.presentation_number, "+82299990000"]
    with db.read() as conn:
        for agent_id, from_number, to_number, presentation in product(
            agents_to_try, numbers, callees, presentations
        ):
            facts = creating.create_facts(conn, org, from_number, to_number, presentation, agent_id)
            assert facts.owns_number == number_store.owns_number(conn, org, from_number)
            assert facts.presentation_approved == (
                presentation is not None and number_store.is_approved_presentation(conn, org, presentation)
            )
            assert facts.suppressed == number_store.is_suppressed(conn, org, to_number)
            try:
                expected = agent_store.get_agent(conn, org, agent_id) if agent_id is not None else None
            except NotFound:
                expected = None
            assert facts.agent == expected
