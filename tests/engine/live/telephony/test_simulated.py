"""The simulated text line as a session transport, driven event by event on virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callplane.domain.errors import ValidationFailed
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.live.session import (
    Carrier,
    CarrierStatus,
    Dtmf,
    Event,
    FinalTranscript,
    HangUp,
    HungUp,
    PlaybackMark,
    Speak,
    SpeechStarted,
    SpeechStopped,
    StopSpeaking,
    Transfer,
)
from callplane.engine.live.telephony.provider import DialRequest
from callplane.engine.live.telephony.scenarios import Keys, parse_scenarios
from callplane.engine.live.telephony.simulated import SimulatedLine, SimulatedProvider

EPOCH = 1_778_400_000_000


def request(to: str = "+821012345678") -> DialRequest:
    return DialRequest("call-1", 1, "+827011112222", to, None, 30.0)


async def line_for(persona: dict[str, Any], **scenario: Any) -> SimulatedLine:
    scenarios = parse_scenarios(
        {"scenarios": [{"numbers": ["*"], "rings": 0, **scenario, "persona": persona}]}
    )
    line = await SimulatedProvider(scenarios, LoopClock(EPOCH), speed=1.0).dial(request())
    assert [await line.receive(), await line.receive()] == [
        Carrier(CarrierStatus.RINGING, EPOCH),
        Carrier(CarrierStatus.ANSWERED, EPOCH),
    ]
    return line


async def until(line: SimulatedLine, kind: type[Any]) -> list[Event]:
    """Every event up to and including the first of `kind`."""
    seen: list[Event] = []
    while not seen or not isinstance(seen[-1], kind):
        seen.append(await asyncio.wait_for(line.receive(), 600))
    return seen


def test_speech_plays_at_the_agents_pace_with_a_mark_per_chunk_and_at_the_end() -> None:
    async def run() -> list[Event]:
        line = await line_for({"silent": True})
        await line.send(Speak("u1", "안녕하세요. "))  # 7 characters: 0.7 s
        await asyncio.sleep(0.3)
        await line.send(Speak("u1", "반갑습니다."))  # queued behind the first chunk
        await line.send(Speak("u1", "", end=True))
        marks: list[Event] = []
        while not (marks and isinstance(marks[-1], PlaybackMark) and marks[-1].done):
            marks.append(await line.receive())
        return marks

    assert run_virtual(run()) == [
        PlaybackMark("u1", 0, EPOCH),
        PlaybackMark("u1", 7, EPOCH + 700),
        PlaybackMark("u1", 13, EPOCH + 1300),
        PlaybackMark("u1", 13, EPOCH + 1300, done=True),
    ]


def test_stop_speaking_cuts_mid_chunk_and_drops_the_rest() -> None:
    async def run() -> tuple[list[Event], list[Event]]:
        line = await line_for({"silent": True})
        await line.send(Speak("u1", "0123456789" * 3, end=True))  # 3 s of speech
        await asyncio.sleep(1.25)
        await line.send(StopSpeaking())
        cut = await until(line, PlaybackMark)
        cut += await until(line, PlaybackMark)
        await line.send(Speak("u1", "late chunk", end=True))  # after the cut: never played
        await line.send(Speak("u2", "다음", end=True))
        return cut, await until(line, PlaybackMark) + await until(line, PlaybackMark)

    cut, after = run_virtual(run())
    assert cut == [PlaybackMark("u1", 0, EPOCH), PlaybackMark("u1", 12, EPOCH + 1250, done=True)]
    assert [m.utterance_id for m in after if isinstance(m, PlaybackMark)] == ["u2", "u2"]


def test_the_callee_answers_after_the_agent_finishes_and_thinks() -> None:
    async def run() -> list[Event]:
        line = await line_for({"replies": ["네."], "think_s": 0.5, "chars_per_s": 2})
        await line.send(Speak("u1", "여보세요?", end=True))  # 0.5 s
        events = await until(line, FinalTranscript)
        return [e for e in events if not isinstance(e, PlaybackMark)]

    assert run_virtual(run()) == [
        SpeechStarted(EPOCH + 1000),
        SpeechStopped(EPOCH + 2000),
        FinalTranscript("네.", EPOCH + 1000, EPOCH + 2000),
    ]


def test_the_callee_talks_over_the_agent_on_its_turn() -> None:
    async def run() -> list[Event]:
        line = await line_for(
            {"interrupt_agent_turn": 1, "interrupt_after_s": 2, "replies": ["잠깐만요"], "chars_per_s": 4}
        )
        await line.send(Speak("u1", "x" * 100, end=True))  # 10 s of speech
        events = [await until(line, SpeechStarted)]
        await line.send(StopSpeaking())
        return events[0] + await until(line, FinalTranscript)

    events = run_virtual(run())
    assert events == [
        PlaybackMark("u1", 0, EPOCH),
        SpeechStarted(EPOCH + 2000),
        PlaybackMark("u1", 20, EPOCH + 2000, done=True),
        SpeechStopped(EPOCH + 3000),
        FinalTranscript("잠깐만요", EPOCH + 2000, EPOCH + 3000),
    ]


def test_keys_hang_up_mid_sentence_and_transfer() -> None:
    async def keys() -> list[Event]:
        line = await line_for({"replies": [{"dtmf": "12"}], "think_s": 0})
        await line.send(Speak("u1", "번호를 누르세요", end=True))  # 0.8 s
        return [e for e in await until(line, Dtmf) + await until(line, Dtmf) if isinstance(e, Dtmf)]

    assert run_virtual(keys()) == [Dtmf("1", EPOCH + 800), Dtmf("2", EPOCH + 1100)]

    async def hang_up() -> list[Event]:
        line = await line_for({"hangup_during_agent_turn": 1})
        await line.send(Speak("u1", "0123456789", end=True))
        return await until(line, HungUp)

    assert run_virtual(hang_up()) == [
        PlaybackMark("u1", 0, EPOCH),
        PlaybackMark("u1", 5, EPOCH + 500, done=True),
        HungUp(EPOCH + 500),
    ]

    async def transfer(accept: str) -> Event:
        line = await line_for({"transfer": accept})
        await line.send(Transfer("0212345678"))
        event = await line.receive()
        await line.send(HangUp())
        await line.send(HangUp())  # twice is harmless
        return event

    assert run_virtual(transfer("accept")) == Carrier(CarrierStatus.TRANSFERRED, EPOCH + 1000)
    assert run_virtual(transfer("reject")) == Carrier(CarrierStatus.TRANSFER_FAILED, EPOCH + 1000)


def test_dtmf_replies_parse_and_bad_ones_are_refused() -> None:
    [scenario] = parse_scenarios(
        {"scenarios": [{"numbers": ["*"], "persona": {"replies": [{"dtmf": "1#"}]}}]}
    )
    assert scenario.persona.replies == (Keys("1#"),)
    with pytest.raises(ValidationFailed):
        parse_scenarios({"scenarios": [{"numbers": ["*"], "persona": {"replies": [{"press": "1"}]}}]})
