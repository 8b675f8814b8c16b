"""The official `retell-sdk`'s `batch_call.create_batch_call`, unchanged, against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from retell import BadRequestError, Retell

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
