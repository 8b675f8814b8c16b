"""Stopping a Twilio call through the dialects, and recording it: against the fake Twilio through
the real app and worker (`twilio_line.py`)."""

from __future__ import annotations

import io
import time
import wave

import httpx

from callplane.config import Settings
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.phone import parse_kr
from callplane.engine import blobs
from tests.api.telephony.twilio_line import TWILIO_NUMBER, Line
from tests.engine.scripted import new_call
from tests.fakes.twilio import Callee, FakeCall


def rest_hang_ups(fake: FakeCall) -> list[dict[str, str]]:
    return [u for u in fake.updates if u.get("Status") in ("completed", "canceled")]


def priced(line: Line, call_id: str) -> int:
    """The call's cost, once its post-call step has priced it."""
    deadline = time.monotonic() + 60  # a hang guard, not a speed assertion
    while (cost := line.calls.get(line.tenant.organization_id, call_id).cost_minor) is None:
        assert time.monotonic() < deadline, f"call {call_id} was never priced"
        time.sleep(0.05)
    return cost


def test_a_vox_cancel_while_ringing_hangs_up_through_rest_and_costs_nothing(either: Line) -> None:
    line = either
    call_id = line.place("01012340101", Callee(answer="never"))
    line.wait(call_id, until=frozenset({CallStatus.RINGING}))
    response = httpx.post(f"{line.base_url}/v3/calls/{call_id}/cancel", headers=line.tenant.headers)
    assert response.status_code == 200, response.text
    call = line.wait(call_id)
    assert (call.status, call.disconnection_reason) == (
        CallStatus.CANCELED,
        DisconnectionReason.CANCELED_BY_USER,
    )
    assert call.answered_at is None and priced(line, call_id) == 0
    fake = line.fake_call("01012340101")
    assert rest_hang_ups(fake) == [{"Status": "completed"}]
    assert call.telephony_id == fake.sid


def test_a_retell_stop_during_the_conversation_hangs_up_through_rest(line: Line) -> None:
    # The callee answers nothing the agent waits for: only the stop ends the call.
    call_id = line.place("01012340102", Callee(lines=["음..."]))
    line.wait(call_id, until=frozenset({CallStatus.ONGOING}))
    response = httpx.post(f"{line.base_url}/v2/stop-call/{call_id}", headers=line.tenant.headers)
    assert response.status_code == 204, response.text
    call = line.wait(call_id)
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    assert rest_hang_ups(line.fake_call("01012340102")) == [{"Status": "completed"}]


def _recording(settings: Settings, key: str) -> bytes:
    data = blobs.from_settings(settings).get(key)
    assert data is not None
    return data


def test_a_twilio_call_is_recorded_in_two_channels_unless_opted_out(line: Line) -> None:
    recorded = line.wait(line.place("01012340103", Callee(lines=["네, 갈게요."])))
    # An opt-out is the call's (Vox v3 has no field for it): created through the service.
    line.fake.callees[parse_kr("01012340104", "to")] = Callee(lines=["네, 갈게요."])
    private = new_call(
        line.tenant,
        "01012340104",
        from_number=parse_kr(TWILIO_NUMBER, "n"),
        opt_out_sensitive_data_storage=True,
    )
    opted_out = line.wait(line.calls.create(line.tenant.organization_id, private).call.id)
    assert recorded.status is CallStatus.ENDED and opted_out.status is CallStatus.ENDED
    assert recorded.recording_key is not None and opted_out.recording_key is None
    with wave.open(io.BytesIO(_recording(line.settings, recorded.recording_key))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        assert wav.getnframes() > 8000  # the greeting and the callee's answer: seconds of audio
