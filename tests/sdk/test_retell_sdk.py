"""The official `retell-sdk` (6.2.13), unchanged, against a real callplane server.

The SDK never fails on a bad response: it validates a call against `WebCallResponse |
PhoneCallResponse` and, when the phone-call shape does not validate, quietly builds a web call.
So besides the SDK's own results these tests validate each raw body against the SDK's
phone-call models, which fails loudly on any missing field or out-of-enum value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from retell import (
    AuthenticationError,
    BadRequestError,
    Retell,
    UnprocessableEntityError,
)
from retell.types.call_list_response import CallListResponse, ItemV3PhoneCallResponse, ItemV3WebCallResponse
from retell.types.phone_call_response import PhoneCallResponse
from retell.types.web_call_response import WebCallResponse

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.store.db import Database
from tests.factories import Tenant, insert_calls
from tests.sdk.conftest import LiveServer
from tests.sdk.kit import T0, Shape, insert_every_shape, web_call

pytestmark = pytest.mark.slow


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as pool:
        yield pool


@pytest.fixture
def retell(live_server: LiveServer, tenant: Tenant, http: httpx.Client) -> Iterator[Retell]:
    # No retries: a test must see the first answer, not a retried one.
    with Retell(api_key=tenant.api_key, base_url=live_server.base_url, max_retries=0) as client:
        yield client


def raw(http: httpx.Client, server: LiveServer, tenant: Tenant, method: str, path: str, **kw: Any) -> Any:
    response = http.request(method, f"{server.base_url}{path}", headers=tenant.headers, **kw)
    assert response.status_code < 300, response.text
    return response.json()


def test_create_retrieve_stop(
    retell: Retell, tenant: Tenant, live_server: LiveServer, http: httpx.Client
) -> None:
    created = retell.call.create_phone_call(
        from_number="+827011112222",
        to_number="+821012345678",
        override_agent_id=tenant.agent_id,
        override_agent_version=1,
        retell_llm_dynamic_variables={"customer_name": "홍길동"},
        metadata={"crm_lead_id": "lead_a1b2c3"},
    )
    assert isinstance(created, PhoneCallResponse)
    assert created.call_type == "phone_call" and created.direction == "outbound"
    assert created.call_status == "registered"
    assert created.agent_id == tenant.agent_id and created.agent_version == 1
    assert created.from_number == "+827011112222" and created.to_number == "+821012345678"
    assert created.retell_llm_dynamic_variables == {"customer_name": "홍길동"}
    assert created.metadata == {"crm_lead_id": "lead_a1b2c3"}

    fetched = retell.call.retrieve(created.call_id)
    assert isinstance(fetched, PhoneCallResponse)
    assert fetched.call_id == created.call_id
    PhoneCallResponse.model_validate(raw(http, live_server, tenant, "GET", f"/v2/get-call/{created.call_id}"))

    assert retell.call.stop(created.call_id) is None
    stopped = retell.call.retrieve(created.call_id)
    assert isinstance(stopped, PhoneCallResponse)
    assert stopped.call_status == "not_connected"
    assert stopped.disconnection_reason == "manual_stopped"
    with pytest.raises(BadRequestError):
        retell.call.stop(created.call_id)  # it has already finished


def test_idempotency_key(retell: Retell, tenant: Tenant) -> None:
    body: dict[str, Any] = {
        "from_number": "+827011112222",
        "to_number": "+821012345678",
        "override_agent_id": tenant.agent_id,
        "idempotency_key": "retry-me-1",
    }
    first = retell.call.create_phone_call(**body)
    again = retell.call.create_phone_call(**body)
    assert again.call_id == first.call_id
    with pytest.raises(BadRequestError):
        retell.call.create_phone_call(**{**body, "to_number": "+821099998888"})


def test_every_call_state_parses_as_a_phone_call(
    retell: Retell, tenant: Tenant, db: Database, live_server: LiveServer, http: httpx.Client
) -> None:
    made = insert_every_shape(db, tenant)
    for shape, call in made.items():
        got = retell.call.retrieve(call.id)
        assert isinstance(got, PhoneCallResponse), shape
        body = raw(http, live_server, tenant, "GET", f"/v2/get-call/{call.id}")
        PhoneCallResponse.model_validate(body)
        if shape.answered and shape.status.is_terminal:
            assert got.transcript is not None and "User: 예약 변경 하고 싶어요." in got.transcript
            assert got.call_analysis is not None and got.call_analysis.user_sentiment == "Positive"
            assert got.call_analysis.custom_analysis_data == {"new_date": "2026-05-11"}
            assert got.call_cost is not None and got.call_cost.combined_cost == 12_000
            kinds = [e.role for e in got.transcript_with_tool_calls or []]
            assert kinds == [
                "node_transition",
                "agent",
                "user",
                "tool_call_invocation",
                "tool_call_result",
                "agent",
            ]
        if shape == Shape(CallStatus.NOT_CONNECTED, DisconnectionReason.DIAL_DECLINED):
            assert got.call_status == "not_connected" and got.disconnection_reason == "user_declined"


def test_list_parses_phone_and_web_calls_and_pages(
    retell: Retell, tenant: Tenant, db: Database, live_server: LiveServer, http: httpx.Client
) -> None:
    made = insert_every_shape(db, tenant)
    web = web_call(tenant, start_at=T0 - 86_400_000)  # the oldest call: it comes last
    insert_calls(db, [web])
    seen: dict[str, object] = {}
    key = None
    while True:
        page = retell.call.list(limit=5, include_total=True, **({"pagination_key": key} if key else {}))
        assert isinstance(page, CallListResponse)
        assert page.total == len(made) + 1
        seen.update({item.call_id: item for item in page.items})
        if not page.has_more:
            assert page.pagination_key is None
            break
        key = page.pagination_key
        assert key
    assert set(seen) == {c.id for c in made.values()} | {web.id}
    assert isinstance(seen[web.id], ItemV3WebCallResponse)
    for call in made.values():
        assert isinstance(seen[call.id], ItemV3PhoneCallResponse)
    body = raw(http, live_server, tenant, "POST", "/v3/list-calls", json={"limit": 1000})
    for item in body["items"]:
        if item["call_id"] != web.id:
            ItemV3PhoneCallResponse.model_validate(item)
            assert "transcript" not in item


def test_list_filters(retell: Retell, tenant: Tenant, db: Database) -> None:
    made = insert_every_shape(db, tenant)
    not_connected = retell.call.list(
        filter_criteria={"call_status": {"type": "enum", "op": "in", "value": ["not_connected"]}}
    )
    expected = {c.id for s, c in made.items() if s.status in (CallStatus.NOT_CONNECTED, CallStatus.CANCELED)}
    assert {i.call_id for i in not_connected.items} == expected
    long_calls = retell.call.list(
        filter_criteria={
            "duration_ms": {"type": "number", "op": "ge", "value": 62_000},
            "disconnection_reason": {"type": "enum", "op": "in", "value": ["user_hangup", "agent_hangup"]},
        }
    )
    assert {i.call_id for i in long_calls.items} == {
        made[Shape(CallStatus.ENDED, DisconnectionReason.USER_HANGUP)].id,
        made[Shape(CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)].id,
    }
    nothing = retell.call.list(
        filter_criteria={"disconnection_reason": {"type": "enum", "op": "in", "value": ["ivr_reached"]}},
        include_total=True,
    )
    assert nothing.items == [] and nothing.total == 0


def test_errors(retell: Retell, tenant: Tenant, live_server: LiveServer) -> None:
    with pytest.raises(UnprocessableEntityError) as missing:
        retell.call.retrieve("3c90c3cc-0d44-4b50-8888-8dd25736052a")
    assert missing.value.body == {
        "status": "error",
        "message": "Cannot find requested asset under given api key.",
    }
    with pytest.raises(BadRequestError) as bad_number:
        retell.call.create_phone_call(from_number="+827011112222", to_number="010-1234-5678")
    assert isinstance(bad_number.value.body, dict) and "to_number" in bad_number.value.body["message"]
    with pytest.raises(BadRequestError) as unsupported:
        retell.call.list(filter_criteria={"in_voicemail": {"type": "boolean", "op": "eq", "value": True}})
    assert isinstance(unsupported.value.body, dict)
    assert "filter_criteria.in_voicemail" in unsupported.value.body["message"]
    with (
        Retell(
            api_key="cp_not_a_real_key_000000000000", base_url=live_server.base_url, max_retries=0
        ) as other,
        pytest.raises(AuthenticationError),
    ):
        other.call.list()


def test_web_call_parses_as_web_call(retell: Retell, tenant: Tenant, db: Database) -> None:
    web = web_call(tenant)
    insert_calls(db, [web])
    assert isinstance(retell.call.retrieve(web.id), WebCallResponse)
