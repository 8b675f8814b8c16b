"""Real calls against a fake Twilio on loopback, shared by the telephony tests: callplane is
configured only through its settings, serves the callbacks and the media socket on a real port,
and runs its worker in the same process (as `callplane serve` does) or beside an API without one.
Scripted speech engines keep it fast and exact."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from callplane.api.app import create_app, create_carrier_app
from callplane.cli.worker import EmbeddedWorker
from callplane.config import Settings
from callplane.domain.call import Call, CallStatus
from callplane.domain.phone import parse_kr
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.store.db import Database
from tests.factories import Tenant, call_body, make_tenant
from tests.fakes.server import free_port, serve_in_thread
from tests.fakes.twilio import Callee, FakeCall, FakeTwilio

TWILIO_NUMBER = "07055556666"
AGENT: dict[str, Any] = {
    "name": "twilio test agent",
    "type": "flow",
    "settings": {"inactivity_timeout_s": 8, "inactivity_reprompts": 0, "ring_timeout_s": 30},
    "flow": {
        "start": "greet",
        "nodes": {
            "greet": {
                "type": "conversation",
                "say": "안녕하세요, 콜플레인 치과입니다. 내일 오후 두 시 예약대로 오실 수 있을까요?",
                "edges": [{"to": "bye", "when": {"user_says_any": ["네"]}}],
                "fallback": "네 또는 아니오로 말씀해 주세요.",
            },
            "bye": {"type": "end", "say": "감사합니다. 내일 뵙겠습니다.", "reason": "agent_hangup"},
        },
    },
}


@dataclass
class Line:
    fake: FakeTwilio
    base_url: str
    tenant: Tenant
    calls: CallService
    db: Database
    settings: Settings
    carrier_url: str = ""  #: where the carrier reaches callplane, when not `base_url`

    @property
    def voice_url(self) -> str:
        return f"{self.carrier_url or self.base_url}/telephony/twilio/voice"

    def place(self, to_number: str, callee: Callee, **fields: Any) -> str:
        self.fake.callees[parse_kr(to_number, "to")] = callee
        body = call_body(self.tenant, from_number=TWILIO_NUMBER, to_number=to_number, **fields)
        response = httpx.post(f"{self.base_url}/v3/calls", json=body, headers=self.tenant.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def wait(self, call_id: str, *, until: frozenset[CallStatus] | None = None) -> Call:
        statuses = until or frozenset(s for s in CallStatus if s.is_terminal)
        deadline = time.monotonic() + 60  # a hang guard, not a speed assertion
        while time.monotonic() < deadline:
            call = self.calls.get(self.tenant.organization_id, call_id)
            if call.status in statuses:
                return call
            time.sleep(0.05)
        raise AssertionError(f"call {call_id} stayed {call.status}")

    def fake_call(self, to_number: str) -> FakeCall:
        return self.fake.call_to(parse_kr(to_number, "to"))


def twilio_settings(fake: FakeTwilio, port: int, recordings: Path) -> Settings:
    return Settings(
        recordings_dir=recordings,
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
        twilio_api_base=fake.url,
        public_url=f"http://127.0.0.1:{port}",
        speech_synthesizer="scripted",
        speech_transcriber="scripted",
        speech_vad="energy",
        worker_poll_interval_s=0.1,
        worker_heartbeat_s=0.2,
        webhook_retention_days=0,
    )


def twilio_tenant(db: Database) -> Tenant:
    tenant = make_tenant(db, int(time.time() * 1000), agent=AGENT)
    Admin(db, lambda: int(time.time() * 1000)).add_number(
        tenant.organization_id, parse_kr(TWILIO_NUMBER, "n"), "twilio", provider="twilio"
    )
    return tenant


@pytest.fixture
def line(db: Database, tmp_path: Path) -> Iterator[Line]:
    """`callplane serve`: the API, the carrier's routes and one worker in one process."""
    with FakeTwilio().running() as fake:
        port = free_port()
        settings = twilio_settings(fake, port, tmp_path)
        tenant = twilio_tenant(db)
        app = create_app(settings, db=db)
        worker = EmbeddedWorker(db, settings)
        worker.start()
        app.state.services.calls.on_created = worker.wake
        app.state.services.calls.on_end_requested = worker.request_end
        app.state.services.inbound = worker.inbound_desk()  # as `serve` wires them
        try:
            with serve_in_thread(app, port) as base_url:
                yield Line(fake, base_url, tenant, app.state.services.calls, db, settings)
        finally:
            worker.stop(timeout_s=30)


@pytest.fixture
def worker_line(db: Database, tmp_path: Path) -> Iterator[Line]:
    """An API without a worker, and a worker serving the carrier's routes at its own public URL
    (`callplane worker` with `CALLPLANE_TELEPHONY_PORT`): the carrier reaches only the worker."""
    with FakeTwilio().running() as fake:
        worker_port = free_port()
        settings = twilio_settings(fake, worker_port, tmp_path)
        tenant = twilio_tenant(db)
        api = create_app(settings.model_copy(update={"embedded_worker": False}), db=db)
        worker = EmbeddedWorker(db, settings)
        worker.start()
        carrier_app = create_carrier_app(settings, db, worker.inbound_desk())
        try:
            with serve_in_thread(api) as base_url, serve_in_thread(carrier_app, worker_port) as worker_url:
                yield Line(fake, base_url, tenant, api.state.services.calls, db, settings, worker_url)
        finally:
            worker.stop(timeout_s=30)


@pytest.fixture(params=["serve", "worker"])
def either(request: pytest.FixtureRequest, db: Database) -> Line:
    """`serve`, and separate workers behind their own public URLs, alike."""
    line: Line = request.getfixturevalue("line" if request.param == "serve" else "worker_line")
    return line
