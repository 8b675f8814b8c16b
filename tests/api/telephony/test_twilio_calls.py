"""Real calls against a fake Twilio on loopback (`twilio_line.py`): outcomes, callbacks, inbound
calls and transfers."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from callplane.domain.call import CallStatus, CallType, Direction, DisconnectionReason
from callplane.domain.phone import parse_kr
from callplane.engine.services.admin import Admin
from callplane.store.schema import calls
from tests.api.telephony.twilio_line import AGENT, TWILIO_NUMBER, Line
from tests.factories import call_body
from tests.fakes.twilio import Callee, twilio_signature


def test_a_conversation_with_barge_in_ends_with_the_callees_words(either: Line) -> None:
    line = either
    # The callee never hangs up: the agent ends the call (had the callee hung up right after the
    # goodbye too, which side ended first would depend on the machine's load).
    callee = Callee(lines=["네, 갈게요."], barge_in_after_s=1.0)
    call = line.wait(line.place("01012340001", callee))
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    user = [e["content"] for e in call.transcript or [] if e["role"] == "user"]
    assert user == ["네, 갈게요."]
    fake = line.fake_call("01012340001")
    assert fake.clears >= 1  # the barge-in cleared the greeting's audio at the carrier
    assert fake.custom_parameters["token"].split(".")[1] == call.id
    agent = [e["content"] for e in call.transcript or [] if e["role"] == "agent"]
    greeting = AGENT["flow"]["nodes"]["greet"]["say"]
    assert agent[0] != greeting and greeting.startswith(agent[0])  # only what was heard
    assert call.telephony_id == fake.sid
    assert {"Status": "completed"} in fake.updates
    assert fake.param("To") == "+821012340001" and fake.param("From") == parse_kr(TWILIO_NUMBER, "n")


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        ("busy", CallStatus.NOT_CONNECTED, DisconnectionReason.DIAL_BUSY),
        ("no-answer", CallStatus.NOT_CONNECTED, DisconnectionReason.DIAL_NO_ANSWER),
        ("failed", CallStatus.NOT_CONNECTED, DisconnectionReason.DIAL_FAILED),
        ("machine_end_beep", CallStatus.ENDED, DisconnectionReason.VOICEMAIL_REACHED),
        ("fax", CallStatus.ENDED, DisconnectionReason.VOICEMAIL_REACHED),
    ],
)
def test_the_carriers_outcomes_end_with_their_reasons(
    line: Line, answer: str, status: CallStatus, reason: DisconnectionReason
) -> None:
    callee = Callee(answer=answer, greeting="삐 소리 후에 메시지를 남겨 주세요.", hang_up_after_turns=1)
    call = line.wait(line.place("01012340002", callee))
    assert (call.status, call.disconnection_reason) == (status, reason)
    assert line.fake_call("01012340002").callbacks[0]["CallStatus"] == "ringing"


def test_the_callee_hanging_up_ends_the_call_as_user_hangup(line: Line) -> None:
    call = line.wait(line.place("01012340003", Callee(hang_up_after_turns=1)))
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.USER_HANGUP)
    fake = line.fake_call("01012340003")
    assert fake.heard and fake.heard[0]  # it heard the greeting before hanging up
    # It hung up itself: callplane did not need to end the call through the API.
    assert not any(u.get("Status") == "completed" for u in fake.updates)


def test_an_end_request_during_the_conversation_hangs_up_through_rest(line: Line) -> None:
    call_id = line.place("01012340004", Callee(lines=["음...", "글쎄요..."]))
    line.wait(call_id, until=frozenset({CallStatus.ONGOING}))
    line.calls.cancel(line.tenant.organization_id, call_id)
    call = line.wait(call_id)
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    fake = line.fake_call("01012340004")
    assert {"Status": "completed"} in fake.updates


def test_the_carriers_price_is_kept_on_the_call(line: Line) -> None:
    call_id = line.place("01012340005", Callee(hang_up_after_turns=1))
    line.wait(call_id)
    fake = line.fake_call("01012340005")
    deadline = time.monotonic() + 30
    while not fake.done.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    with line.db.read() as conn:
        price = conn.execute(select(calls.c.carrier_price).where(calls.c.id == call_id)).scalar_one()
    assert price == "-0.01300 USD"


def test_a_forged_callback_is_refused(line: Line) -> None:
    call_id = line.place("01012340006", Callee(ring_s=2.0, hang_up_after_turns=1))
    line.wait(call_id, until=frozenset({CallStatus.RINGING}))
    fake = line.fake_call("01012340006")
    url = fake.param("StatusCallback")
    params = [("CallSid", fake.sid), ("CallStatus", "busy")]
    forged = httpx.post(url, data=dict(params), headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    unsigned = httpx.post(url, data=dict(params))
    wrong_key = httpx.post(
        url, data=dict(params), headers={"X-Twilio-Signature": twilio_signature("not the token", url, params)}
    )
    assert [r.status_code for r in (forged, unsigned, wrong_key)] == [403, 403, 403]
    token = url.rsplit("/", 1)[1]
    guessed = url.replace(token, token[:-4] + "0000")
    signed_guess = httpx.post(
        guessed,
        data=dict(params),
        headers={"X-Twilio-Signature": twilio_signature(line.fake.auth_token, guessed, params)},
    )
    assert signed_guess.status_code == 403
    # None of them moved the call: it rings on, and is answered.
    call = line.wait(call_id)
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.USER_HANGUP)


def test_an_incoming_call_is_answered_by_the_numbers_agent_and_stored(either: Line) -> None:
    line = either
    org = line.tenant.organization_id
    Admin(line.db, lambda: int(time.time() * 1000)).set_inbound_agent(
        org, parse_kr(TWILIO_NUMBER, "n"), line.tenant.agent_id
    )
    voice_url = line.voice_url
    caller = "+821099998888"
    fake = line.fake.call_in(voice_url, caller, parse_kr(TWILIO_NUMBER, "n"), Callee(lines=["네, 갈게요."]))
    assert fake.status == "completed" and fake.heard
    with line.db.read() as conn:
        call_id = conn.execute(select(calls.c.id).where(calls.c.telephony_id == fake.sid)).scalar_one()
    call = line.wait(call_id)
    assert (call.call_type, call.direction) == (CallType.INBOUND, Direction.INBOUND)
    assert (call.from_number, call.to_number) == (caller, parse_kr(TWILIO_NUMBER, "n"))
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    assert [e["content"] for e in call.transcript or [] if e["role"] == "user"] == ["네, 갈게요."]
    assert {"Status": "completed"} in fake.updates  # the agent ended it through the REST API
    listed = httpx.get(f"{line.base_url}/v3/calls", headers=line.tenant.headers, params={"limit": 50})
    assert call_id in [c["id"] for c in listed.json()["items"]]


def test_an_incoming_call_nobody_answers_is_rejected(line: Line) -> None:
    voice_url = line.voice_url
    ours = parse_kr(TWILIO_NUMBER, "n")  # no inbound agent yet
    assert line.fake.call_in(voice_url, "+821099998888", ours, Callee()).status == "rejected"
    assert line.fake.call_in(voice_url, "+821099998888", "+827000000000", Callee()).status == "rejected"
    forged = httpx.post(voice_url, data={"To": ours, "From": "+821099998888", "CallSid": "CA1"})
    assert forged.status_code == 403


TRANSFER_AGENT: dict[str, Any] = {
    "name": "transfer agent",
    "type": "flow",
    "flow": {
        "start": "greet",
        "tools": {
            "to_staff": {"type": "transfer_call", "description": "상담원 연결", "number": "0212345678"}
        },
        "nodes": {
            "greet": {
                "type": "conversation",
                "say": "무엇을 도와드릴까요?",
                "edges": [{"to": "staff", "when": {"user_says_any": ["상담원"]}}],
                "fallback": "다시 말씀해 주세요.",
            },
            "staff": {"type": "tool", "say": "연결해 드리겠습니다.", "tool": "to_staff", "arguments": {}},
        },
    },
}


def test_a_transfer_bridges_the_callee_through_rest_and_does_not_hang_up(line: Line) -> None:
    agent = Admin(line.db, lambda: int(time.time() * 1000)).create_agent(
        line.tenant.organization_id, TRANSFER_AGENT
    )
    line.fake.callees["+821012340009"] = Callee(lines=["상담원 바꿔 주세요."])
    body = call_body(
        line.tenant,
        from_number=TWILIO_NUMBER,
        to_number="01012340009",
        agent={"agent_id": agent.id, "agent_version": "current"},
    )
    response = httpx.post(f"{line.base_url}/v3/calls", json=body, headers=line.tenant.headers)
    call = line.wait(response.json()["id"])
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.CALL_TRANSFER)
    fake = line.fake_call("01012340009")
    assert [u for u in fake.updates if "Twiml" in u] == [
        {
            "Twiml": '<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="+827055556666">'
            "+82212345678</Dial></Response>"
        }
    ]
    assert {"Status": "completed"} not in fake.updates


def test_an_incoming_call_over_the_concurrency_limit_is_rejected(line: Line) -> None:
    org = line.tenant.organization_id
    admin = Admin(line.db, lambda: int(time.time() * 1000))
    admin.set_inbound_agent(org, parse_kr(TWILIO_NUMBER, "n"), line.tenant.agent_id)
    admin.update_organization(org, {"max_concurrent_calls": 1})
    busy = line.place("01012340010", Callee(ring_s=3.0, hang_up_after_turns=1))  # holds the one slot
    line.wait(busy, until=frozenset({CallStatus.RINGING}))
    fake = line.fake.call_in(line.voice_url, "+821099998888", parse_kr(TWILIO_NUMBER, "n"), Callee())
    assert fake.status == "rejected"
    assert line.wait(busy).status is CallStatus.ENDED
