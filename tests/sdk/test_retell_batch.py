"""The official `retell-sdk`'s `batch_call.create_batch_call`, unchanged, against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from retell import BadRequestError, Retell, UnprocessableEntityError
from retell.types import BatchCallResponse

from callplane.engine.clock import SystemClock
from callplane.engine.jobs import feeder
from callplane.engine.services.calls import CallService
from callplane.store.db import Database
from tests.factories import Tenant
from tests.sdk.conftest import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture
def retell(live_server: LiveServer, tenant: Tenant) -> Iterator[Retell]:
    with Retell(api_key=tenant.api_key, base_url=live_server.base_url, max_retries=0) as client:
        yield client


def test_a_batch_call_is_a_campaign(retell: Retell, tenant: Tenant, live_server: LiveServer) -> None:
    batch = retell.batch_call.create_batch_call(
        from_number="+827011112222",
        name="재방문 안내",
        tasks=[
            {
                "to_number": f"+82105000000{i}",
                "override_agent_id": tenant.agent_id,
                "retell_llm_dynamic_variables": {"customer_name": f"고객{i}"},
                "metadata": {"row": i},
            }
            for i in range(3)
        ],
        call_time_window={
            "windows": [{"start": 540, "end": 1080}],
            "day": ["Monday"],
            "timezone": "Asia/Seoul",
        },
        reserved_concurrency=7,  # the organisation's limit is 10
        trigger_timestamp=4_102_444_800_000,
    )
    assert batch.total_task_count == 3 and batch.name == "재방문 안내"
    assert batch.from_number == "+827011112222" and batch.scheduled_timestamp == 4_102_444_800_000
    assert batch.call_time_window is not None and batch.call_time_window.day == ["Monday"]
    campaign = httpx.get(
        f"{live_server.base_url}/v3/campaigns/{batch.batch_call_id}", headers=tenant.headers
    ).json()
    assert campaign["concurrency"] == 3 and campaign["status"] == "pending"
    assert campaign["agent"] == {"agent_id": tenant.agent_id, "agent_version": "current"}
    with pytest.raises(BadRequestError) as refused:
        retell.batch_call.create_batch_call(
            from_number="+827011112222",
            tasks=[{"to_number": "+821050000000", "override_agent_id": tenant.agent_id}, {"to_number": "12"}],
        )
    assert "tasks[1].to_number" in str(refused.value)


def test_a_batchs_calls_carry_its_id_and_the_list_filters_on_it(
    retell: Retell, tenant: Tenant, live_server: LiveServer, db: Database
) -> None:
    batch = retell.batch_call.create_batch_call(
        from_number="+827011112222",
        tasks=[
            {
                "to_number": f"+82105000001{i}",
                "override_agent_id": tenant.agent_id,
                "retell_llm_dynamic_variables": {"customer_name": "김민수"},
            }
            for i in range(3)
        ],
        reserved_concurrency=8,  # two slots of the organisation's ten
        call_time_window={"windows": [{"start": 0, "end": 720}, {"start": 720, "end": 1440}]},
    )
    assert batch.call_time_window is not None
    assert [(w.start, w.end) for w in batch.call_time_window.windows] == [(0, 720), (720, 1440)]
    clock = SystemClock()
    assert feeder.feed(db, CallService(db, clock.now_ms), clock.now_ms()).created == 2
    found = retell.call.list(
        filter_criteria={"batch_call_id": {"type": "string", "op": "eq", "value": batch.batch_call_id}},
        include_total=True,
    )
    assert found.total == 2 and len(found.items) == 2
    assert {getattr(c, "batch_call_id", None) for c in found.items} == {batch.batch_call_id}
    one = retell.call.retrieve(found.items[0].call_id)
    assert getattr(one, "batch_call_id", None) == batch.batch_call_id
    other = retell.call.list(
        filter_criteria={"batch_call_id": {"type": "string", "op": "eq", "value": tenant.agent_id}},
        include_total=True,
    )
    assert other.total == 0 and other.items == []
    with pytest.raises(BadRequestError):
        retell.call.list(filter_criteria={"batch_call_id": {"type": "string", "op": "co", "value": "x"}})
    # The batch's status, through the SDK's own client and Retell's response model.
    status = retell.get(f"/get-batch-call/{batch.batch_call_id}", cast_to=BatchCallResponse)
    assert status.batch_call_id == batch.batch_call_id and status.total_task_count == 3
    extra = status.model_dump()
    assert extra["status"] == "ongoing" and extra["in_progress_task_count"] == 2
    assert extra["remaining_task_count"] == 1 and extra["completed_task_count"] == 0
    with pytest.raises(UnprocessableEntityError):
        retell.get(f"/get-batch-call/{tenant.agent_id}", cast_to=BatchCallResponse)
