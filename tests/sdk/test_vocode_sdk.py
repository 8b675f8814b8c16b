"""The official `vocode-api` SDK (0.0.48), unchanged, against a real callplane server.

The SDK validates every response with pydantic: a missing key, a number where it wants a
string, an object where it wants an id, or a value outside one of its enums fails the call.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import httpx
import pytest

with warnings.catch_warnings():
    # vocode-api 0.0.48 still declares a pydantic v1-style `class Config` on its base model;
    # pydantic 2 warns about it once, at import. The warnings are the SDK's, not callplane's.
    warnings.simplefilter("ignore")
    from vocode import Vocode
    from vocode.core.api_error import ApiError
    from vocode.errors.unprocessable_entity_error import UnprocessableEntityError
    from vocode.types.call import Call as VocodeCall
    from vocode.types.normalized_call import NormalizedCall

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.engine.blobs import BlobConfig
from callplane.engine.blobs.local import LocalBlobs
from callplane.store.db import Database
from tests.factories import Tenant
from tests.sdk.conftest import LiveServer
from tests.sdk.kit import Shape, insert_every_shape

pytestmark = pytest.mark.slow


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """The SDK's HTTP connection pool, closed after the test (the SDK never closes its own)."""
    with httpx.Client(timeout=60) as pool:
        yield pool


@pytest.fixture
def vocode(live_server: LiveServer, tenant: Tenant, http: httpx.Client) -> Vocode:
    return Vocode(token=tenant.api_key, base_url=live_server.base_url, httpx_client=http)


def test_create_get_end(vocode: Vocode, tenant: Tenant) -> None:
    created = vocode.calls.create_call(
        from_number="+827011112222",
        to_number="01012345678",
        agent=tenant.agent_id,
        context={"customer_name": "홍길동"},
        hipaa_compliant=False,
    )
    assert isinstance(created, VocodeCall)
    assert created.status == "not_started"
    assert created.stage == "created" and created.stage_outcome is None
    assert created.agent.id == tenant.agent_id
    assert created.user_id == tenant.organization_id
    assert created.from_number == "+827011112222" and created.to_number == "+821012345678"
    assert created.agent_phone_number == "+827011112222"
    assert created.telephony_provider == "twilio"
    assert created.context == {"customer_name": "홍길동"}
    assert created.start_time is None and created.end_time is None

    fetched = vocode.calls.get_call(id=created.id)
    assert isinstance(fetched, VocodeCall)
    assert fetched.id == created.id and fetched.agent.id == tenant.agent_id

    ended = vocode.calls.end_call(id=created.id)
    assert ended.status == "ended"
    assert ended.stage_outcome == "call_did_not_connect"
    assert ended.end_time is not None and ended.end_time.endswith("+00:00")
    # Ending it again leaves it as it is.
    again = vocode.calls.end_call(id=created.id)
    assert again.status == "ended" and again.end_time == ended.end_time


def test_hipaa_compliant_keeps_no_transcript(vocode: Vocode, tenant: Tenant) -> None:
    created = vocode.calls.create_call(
        from_number="+827011112222", to_number="+821012345678", agent=tenant.agent_id, hipaa_compliant=True
    )
    assert created.hipaa_compliant is True
    assert created.transcript is None


def test_every_call_state_parses_in_get_and_list(vocode: Vocode, tenant: Tenant, db: Database) -> None:
    made = insert_every_shape(db, tenant)
    for shape, call in made.items():
        got = vocode.calls.get_call(id=call.id)
        assert isinstance(got, VocodeCall), shape
        if call.start_at is not None:
            assert got.start_time is not None and got.start_time.startswith("2026-01-01T")
    seen: dict[str, NormalizedCall] = {}
    page = 1
    while True:
        listed = vocode.calls.list_calls(page=page, size=7)
        assert listed.total == len(made) and listed.total_is_estimated is False
        assert listed.page == page and listed.size == 7
        for item in listed.items:
            assert isinstance(item, NormalizedCall)
            seen[item.id] = item
        if not listed.has_more:
            break
        page += 1
    assert set(seen) == {c.id for c in made.values()}
    for shape, call in made.items():
        item = seen[call.id]
        assert item.agent == tenant.agent_id
        assert item.start_time == (None if call.start_at is None else call.start_at / 1000)
        assert item.end_time == (None if call.end_at is None else call.end_at / 1000)
        if shape.answered:
            assert item.transcript is not None and "HUMAN: 예약 변경 하고 싶어요." in item.transcript
        if shape.reason is DisconnectionReason.VOICEMAIL_REACHED:
            assert item.human_detection_result == "no_human"
            assert item.stage_outcome == "human_unanswered"
        if shape == Shape(CallStatus.ENDED, DisconnectionReason.USER_HANGUP):
            assert item.stage == "picked_up" and item.stage_outcome == "human_disconnected"


def test_list_sorting(vocode: Vocode, db: Database, tenant: Tenant) -> None:
    made = insert_every_shape(db, tenant)
    ascending = vocode.calls.list_calls(size=100).items
    descending = vocode.calls.list_calls(size=100, sort_desc=True).items
    assert [c.id for c in descending] == [c.id for c in reversed(ascending)]
    by_end = vocode.calls.list_calls(size=100, sort_column="end_time").items
    ends = [c.end_time for c in by_end]
    known = [e for e in ends if e is not None]
    assert known == sorted(known) and ends[len(known) :] == [None] * (len(ends) - len(known))
    assert len(by_end) == len(made)


def test_errors_are_fastapi_shaped(
    vocode: Vocode, tenant: Tenant, live_server: LiveServer, http: httpx.Client
) -> None:
    with pytest.raises(UnprocessableEntityError) as invalid:
        vocode.calls.create_call(from_number="+827011112222", to_number="12", agent=tenant.agent_id)
    detail = invalid.value.body.detail
    assert detail is not None and list(detail[0].loc) == ["body", "to_number"]

    with pytest.raises(UnprocessableEntityError) as inline:
        vocode.calls.create_call(
            from_number="+827011112222", to_number="+821012345678", agent={"prompt": "Be nice"}
        )
    assert inline.value.body.detail is not None and inline.value.body.detail[0].loc[-1] == "agent"

    with pytest.raises(UnprocessableEntityError):
        vocode.calls.list_calls(size=0)
    with pytest.raises(UnprocessableEntityError):
        vocode.calls.list_calls(sort_column="colour")

    with pytest.raises(ApiError) as missing:
        vocode.calls.get_call(id="3c90c3cc-0d44-4b50-8888-8dd25736052a")
    assert missing.value.status_code == 404 and missing.value.body == {"detail": "Call not found"}

    stranger = Vocode(
        token="cp_not_a_real_key_000000000000", base_url=live_server.base_url, httpx_client=http
    )
    with pytest.raises(ApiError) as unauthorized:
        stranger.calls.list_calls()
    assert unauthorized.value.status_code == 401


def test_list_pages_past_the_offset_cap_are_a_422(
    live_server: LiveServer, tenant: Tenant, http: httpx.Client
) -> None:
    response = http.get(
        f"{live_server.base_url}/v1/calls/list",
        params={"page": 10_000, "size": 100},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "page"]


def test_recording_available_and_get_recording(
    vocode: Vocode, tenant: Tenant, db: Database, live_server: LiveServer
) -> None:
    made = insert_every_shape(db, tenant)
    recorded = made[Shape(CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)]
    silent = made[Shape(CallStatus.NOT_CONNECTED, DisconnectionReason.DIAL_BUSY)]
    assert recorded.recording_key is not None
    wav = b"RIFF" + bytes(range(256)) * 40  # streamed back in more than one chunk
    LocalBlobs(BlobConfig(live_server.recordings)).put(recorded.recording_key, wav, "audio/wav")
    assert vocode.calls.get_call(id=recorded.id).recording_available is True
    assert vocode.calls.get_call(id=silent.id).recording_available is False
    assert b"".join(vocode.calls.get_recording(id=recorded.id)) == wav
    with pytest.raises(ApiError) as missing:
        b"".join(vocode.calls.get_recording(id=silent.id))
    assert missing.value.status_code == 404
