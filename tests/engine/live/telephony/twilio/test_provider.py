"""The Twilio provider against the fake Twilio's REST API: what is dialled, once, and how a call
is ended; and a deployment without the settings refuses to dial."""

from __future__ import annotations

import asyncio
import time

import pytest

from callplane.config import Settings
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.engine.clock import SystemClock
from callplane.engine.live.conductor import LineConductor, Runtimes
from callplane.engine.live.session import HangUp
from callplane.engine.live.speech.stack import SpeechStack
from callplane.engine.live.telephony.provider import DialRequest, ProviderUnavailable
from callplane.engine.live.telephony.registry import Carriers
from callplane.engine.live.telephony.twilio.provider import LINES, TwilioProvider
from tests.engine.live.conversation_kit import RecordingHooks, a_call, demo_version
from tests.fakes.server import free_port
from tests.fakes.twilio import Callee, FakeTwilio

TO = "+821012345678"
REQUEST = DialRequest("call-1", 1, "+827055556666", TO, "+82212345678", 30, organization_id="org")


def settings_for(fake: FakeTwilio) -> Settings:
    return Settings(
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
        twilio_api_base=fake.url,
        public_url=f"http://127.0.0.1:{free_port()}",  # nobody there: callbacks are not needed here
        speech_synthesizer="scripted",
        speech_transcriber="scripted",
        speech_vad="energy",
    )


def test_a_call_without_the_settings_ends_as_an_error_saying_what_is_missing() -> None:
    settings = Settings(twilio_account_sid="AC123", public_url=None)
    conductor = LineConductor(
        Carriers(settings, SystemClock(), lambda _number: "twilio"), SystemClock(), Runtimes(settings).build
    )
    outcome = asyncio.run(conductor.conduct(a_call(), demo_version(), RecordingHooks()))
    assert (outcome.status, outcome.reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert outcome.error_detail is not None
    assert (
        "CALLPLANE_TWILIO_AUTH_TOKEN" in outcome.error_detail
        and "CALLPLANE_PUBLIC_URL" in outcome.error_detail
    )
    assert "CALLPLANE_TWILIO_ACCOUNT_SID" not in outcome.error_detail


def test_the_create_names_the_numbers_markup_and_callbacks_and_a_hang_up_while_ringing_ends_it() -> None:
    with FakeTwilio().running() as fake:
        fake.callees[TO] = Callee(answer="never")
        settings = settings_for(fake)
        provider = TwilioProvider(settings, SystemClock(), SpeechStack.from_settings(settings))

        async def dial_and_hang_up() -> str:
            line = await provider.dial(REQUEST)
            await line.send(HangUp())
            await provider.aclose()
            return line.telephony_id

        sid = asyncio.run(dial_and_hang_up())
        call = fake.calls[sid]
        assert (call.param("To"), call.param("From")) == (TO, "+82212345678")  # the caller ID
        assert call.param("Timeout") == "30" and call.param("MachineDetection") == "Enable"
        assert [v for k, v in call.params if k == "StatusCallbackEvent"] == [
            "initiated",
            "ringing",
            "answered",
            "completed",
        ]
        token = call.param("StatusCallback").rsplit("/", 1)[1]
        assert token.startswith("org.call-1.1.")
        assert f'<Parameter name="token" value="{token}"/>' in call.param("Twiml")
        assert 'url="ws://127.0.0.1:' in call.param("Twiml")
        assert call.updates == [{"Status": "completed"}]
        assert LINES.get(token) is None  # the line left the switchboard with the call
        deadline = time.monotonic() + 10
        while not call.done.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert call.status == "canceled"


def test_a_create_whose_answer_is_lost_is_looked_up_not_sent_again() -> None:
    with FakeTwilio().running() as fake:
        fake.callees[TO] = Callee(answer="never")
        fake.stall_creates_s = 3.0
        settings = settings_for(fake)
        provider = TwilioProvider(settings, SystemClock(), SpeechStack.from_settings(settings), timeout_s=0.5)

        async def dial() -> str:
            line = await provider.dial(REQUEST)
            await line.send(HangUp())
            await provider.aclose()
            return line.telephony_id

        sid = asyncio.run(dial())
        assert fake.creates == 1 and list(fake.calls) == [sid]


def test_the_provider_refuses_to_dial_without_a_public_url() -> None:
    settings = Settings(twilio_account_sid="AC1", twilio_auth_token="t")
    provider = TwilioProvider(settings, SystemClock(), SpeechStack.from_settings(settings))
    with pytest.raises(ProviderUnavailable, match="CALLPLANE_PUBLIC_URL"):
        asyncio.run(provider.dial(REQUEST))
