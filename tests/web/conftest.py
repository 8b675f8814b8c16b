"""Dashboard fixtures: an app on the `db` fixture, calls made through the store, signing in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.domain.call import (
    AgentRef,
    Call,
    CallAnalysis,
    CallStatus,
    CallType,
    Direction,
    DisconnectionReason,
    Sentiment,
)
from callplane.domain.ids import new_id
from callplane.engine.clock import FixedClock
from callplane.engine.live.recorder import SAMPLE_RATE, Recorder
from callplane.store import creating
from callplane.store.db import Database
from tests.factories import Tenant, make_tenant

NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC = 09:00 in Seoul
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, api_key: str) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    token = csrf_of(client.get("/dashboard/sign-in").text)
    answer = client.post(
        "/dashboard/sign-in", data={"csrf": token, "api_key": api_key}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/dashboard/calls").text)


def a_call(tenant: Tenant, **fields: Any) -> Call:
    """An ended call of `tenant`, one minute long, unless `fields` say otherwise."""
    start = fields.pop("at", NOW - 3600_000)
    base = Call(
        id=new_id(),
        organization_id=tenant.organization_id,
        agent=AgentRef(tenant.agent_id, "current", 1),
        call_type=CallType.OUTBOUND,
        direction=Direction.OUTBOUND,
        status=CallStatus.ENDED,
        from_number=tenant.from_number,
        to_number="+821012345678",
        presentation_number=None,
        created_at=start - 1000,
        updated_at=start,
        due_at=start - 1000,
        metadata={"crm_lead_id": "lead_1"},
        dynamic_variables={"customer_name": "홍길동"},
        disconnection_reason=DisconnectionReason.USER_HANGUP,
        start_at=start,
        answered_at=start + 2000,
        end_at=start + 60_000,
        duration_ms=60_000,
        # Unix ms, as the conversation records them: 0:00-0:03 and 0:03-0:06 into the call.
        transcript=[
            {
                "role": "agent",
                "content": "안녕하세요 홍길동님, 예약 확인 전화입니다.",
                "start_at": start + 2000,
                "end_at": start + 5000,
            },
            {
                "role": "user",
                "content": "네, 내일 오후 두 시 맞아요.",
                "start_at": start + 5500,
                "end_at": start + 8000,
            },
        ],
        analysis=CallAnalysis("예약 확인", Sentiment.POSITIVE, []),
        cost_minor=10_000,
    )
    return replace(base, **fields)


def recording_wav(ms: int, agent: list[tuple[int, int]], callee: list[tuple[int, int]]) -> bytes:
    """The recorder's own WAV of `ms`: a 440 Hz tone on each side in its (from, to) ms spans,
    silence elsewhere."""

    def track(spans: list[tuple[int, int]]) -> bytes:
        pcm = np.zeros(ms * SAMPLE_RATE // 1000, dtype="<i2")
        for start, end in spans:
            n = np.arange(start * SAMPLE_RATE // 1000, end * SAMPLE_RATE // 1000)
            pcm[n] = (np.sin(n * 2 * np.pi * 440 / SAMPLE_RATE) * 20_000).astype("<i2")
        return pcm.tobytes()

    return recorded(track(agent), track(callee), ms)


def recorded(agent: bytes, callee: bytes, ms: int) -> bytes:
    """The WAV the recorder stores for these two PCM16 tracks, fed to it as a line would: a
    20 ms frame of each side at a time (the agent's first, so both start at 0)."""
    t0, frame = 1_767_225_600_000, SAMPLE_RATE // 50 * 2
    recorder = Recorder(max_ms=ms)
    recorder.tee("callee", b"", t0)  # the line is up even when nobody speaks
    for at in range(0, max(len(agent), len(callee)), frame):
        recorder.tee("agent", agent[at : at + frame], t0 + at // (2 * SAMPLE_RATE // 1000))
        recorder.tee("callee", callee[at : at + frame], t0 + at // (2 * SAMPLE_RATE // 1000))
    recording = recorder.finish(t0 + ms)
    assert recording is not None
    try:
        return recording.open().read()
    finally:
        recording.close()


def queued_call(tenant: Tenant, **fields: Any) -> Call:
    call = a_call(tenant, **fields)
    return replace(
        call,
        status=CallStatus.QUEUED,
        start_at=None,
        answered_at=None,
        end_at=None,
        duration_ms=None,
        disconnection_reason=None,
        transcript=None,
        analysis=None,
        cost_minor=None,
    )


def insert(db: Database, *calls: Call) -> None:
    with db.write() as conn:
        for call in calls:
            creating.insert_call(conn, call)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def tenant(db: Database) -> Tenant:
    return make_tenant(db, NOW)


@pytest.fixture
def other(db: Database, tenant: Tenant) -> Tenant:
    return make_tenant(db, NOW, name="other org")


@pytest.fixture
def web(db: Database, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db.url), db=db, clock=clock)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client
