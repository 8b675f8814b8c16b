"""The speech pipeline over real audio frames: the simulated audio line (μ-law, 20 ms frames,
a playout clock with marks and clear) and the scripted engines, on virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.live.session import (
    AudioFrame,
    Carrier,
    ClearAudio,
    Event,
    FinalTranscript,
    HangUp,
    Mark,
    PlayAudio,
    PlaybackMark,
    RawCommand,
    RawEvent,
    Speak,
    SpeechStarted,
    SpeechStopped,
    StopSpeaking,
)
from callplane.engine.live.speech import audio, scripted
from callplane.engine.live.speech.pipeline import SpeechPipeline
from callplane.engine.live.speech.protocols import AudioChunk, SpeechEngineError, Voice
from callplane.engine.live.speech.registry import SYNTHESIZERS, TRANSCRIBERS, EngineConfig
from callplane.engine.live.speech.scripted import ScriptedSynthesizer, ScriptedTranscriber
from callplane.engine.live.speech.turns import EnergyActivity, VadTurns
from callplane.engine.live.telephony.provider import DialRequest
from callplane.engine.live.telephony.scenarios import parse_scenarios
from callplane.engine.live.telephony.simulated_audio import CalleeEars, SimulatedAudioLine
from callplane.engine.registry import UnknownName

EPOCH = 1_778_400_000_000
GREETING = "안녕하세요. 예약 확인 전화입니다."


class SpyRaw:
    """The raw line, with every command it is sent written down."""

    def __init__(self, inner: SimulatedAudioLine) -> None:
        self.inner = inner
        self.sent: list[RawCommand] = []
        self.frames_in = 0

    @property
    def telephony_id(self) -> str:
        return self.inner.telephony_id

    async def receive(self) -> RawEvent:
        event = await self.inner.receive()
        self.frames_in += isinstance(event, AudioFrame)
        return event

    async def send(self, command: RawCommand) -> None:
        self.sent.append(command)
        await self.inner.send(command)


def line(
    persona: dict[str, Any], *, synthesizer: Any = None, tee: Any = None
) -> tuple[SpeechPipeline, SpyRaw]:
    scenario = parse_scenarios({"scenarios": [{"numbers": ["*"], "rings": 0, "persona": persona}]})[0]
    clock = LoopClock(EPOCH)
    ears = CalleeEars(ScriptedSynthesizer(), ScriptedTranscriber(), Voice())
    request = DialRequest("call-1", 1, "+827011112222", "+821012345678", None, 30.0)
    raw = SpyRaw(SimulatedAudioLine(request, scenario, clock, 1.0, ears))
    raw.inner.start()
    pipeline = SpeechPipeline(
        raw,
        clock,
        synthesizer=synthesizer or ScriptedSynthesizer(),
        transcriber=ScriptedTranscriber(),
        turns=VadTurns(EnergyActivity()),
        voice=Voice(),
        tee=tee,
    )
    return pipeline, raw


async def until(pipeline: SpeechPipeline, test: Any) -> list[Event]:
    seen: list[Event] = []
    while not seen or not test(seen[-1]):
        event = await asyncio.wait_for(pipeline.receive(), 120)
        seen.append(event)
    return seen


def is_done(utterance: str) -> Any:
    return lambda e: isinstance(e, PlaybackMark) and e.utterance_id == utterance and e.done


def test_the_callees_words_arrive_as_turn_events_and_a_final_transcript() -> None:
    async def run() -> list[Event]:
        pipeline, raw = line({"replies": ["네, 맞아요. 내일 갈게요."], "think_s": 0.5})
        await pipeline.send(Speak("u1", "여보세요?", end=True))
        seen = await until(pipeline, lambda e: isinstance(e, FinalTranscript))
        await pipeline.send(HangUp())
        assert raw.frames_in > 50  # the line streams frames, silence included
        return [e for e in seen if not isinstance(e, (PlaybackMark, Carrier))]

    started, stopped, final = run_virtual(run())
    assert isinstance(started, SpeechStarted) and isinstance(stopped, SpeechStopped)
    assert isinstance(final, FinalTranscript) and final.text == "네, 맞아요. 내일 갈게요."
    assert final.start_at == started.at
    # 15 characters at the scripted 10 a second: 1.5 s of speech, ended 700 ms before it was noticed.
    assert 1500 <= final.end_at - final.start_at <= 1540
    assert stopped.at - final.end_at == 700


def test_speech_is_played_as_frames_with_marks_and_heard_to_its_end() -> None:
    async def run() -> tuple[list[Event], SpyRaw, SimulatedAudioLine]:
        pipeline, raw = line({"silent": True})
        await pipeline.send(Speak("u1", "안녕하세요. "))
        await pipeline.send(Speak("u1", "예약 확인 전화입니다.", end=True))
        seen = await until(pipeline, is_done("u1"))
        await asyncio.sleep(0.5)  # the callee takes the turn as over, and transcribes what it heard
        await pipeline.send(HangUp())
        return seen, raw, raw.inner

    seen, raw, callee_line = run_virtual(run())
    marks = [e for e in seen if isinstance(e, PlaybackMark)]
    played = [m.played for m in marks]
    assert played[0] == 0 and played == sorted(played) and played[-1] == len(GREETING)
    assert 7 in played  # the first chunk's end is exact
    # ~2 s of audio in 20 ms μ-law frames, a mark every 200 ms of it and at each chunk's end
    frames = [c for c in raw.sent if isinstance(c, PlayAudio)]
    assert all(len(f.data) == 160 for f in frames)
    assert 95 <= len(frames) <= 110
    assert sum(isinstance(c, Mark) for c in raw.sent) == len(marks)
    assert marks[-1].at - marks[0].at == pytest.approx(len(frames) * 20, abs=20)
    assert callee_line.callee._heard == [GREETING]


def test_barge_in_in_audio_clears_playback_and_cuts_the_utterance_where_the_callee_started() -> None:
    long = "그럼 내일 오후 두 시에 뵙겠습니다. 준비물은 따로 없고 편하게 오시면 됩니다."

    async def run() -> tuple[list[Event], SpyRaw]:
        pipeline, raw = line({"replies": ["잠깐만요, 시간을 바꿀 수 있을까요?"], "interrupt_agent_turn": 1})
        await pipeline.send(Speak("u1", long, end=True))
        seen = await until(pipeline, lambda e: isinstance(e, SpeechStarted))
        await pipeline.send(StopSpeaking())  # what Conversation does on SpeechStarted
        seen += await until(pipeline, lambda e: isinstance(e, FinalTranscript))
        await pipeline.send(HangUp())
        return seen, raw

    seen, raw = run_virtual(run())
    assert any(isinstance(c, ClearAudio) for c in raw.sent)
    started = next(e for e in seen if isinstance(e, SpeechStarted))
    first = next(e for e in seen if isinstance(e, PlaybackMark))
    cut = next(e for e in seen if is_done("u1")(e))
    # The callee spoke 1 s into the sentence (10 characters); heard is within a mark's 200 ms.
    assert started.at - first.at == pytest.approx(1000, abs=40)
    assert 8 <= cut.played <= 10
    # Marks of the cleared audio that the line returned were not taken as heard.
    assert max(e.played for e in seen if isinstance(e, PlaybackMark)) == cut.played
    assert isinstance(seen[-1], FinalTranscript) and seen[-1].text == "잠깐만요, 시간을 바꿀 수 있을까요?"


def test_a_clear_before_the_first_chunk_plays_still_ends_the_utterance() -> None:
    async def run() -> list[Event]:
        pipeline, _ = line({"silent": True})
        await pipeline.send(Speak("u1", "첫 문장입니다."))
        await pipeline.send(StopSpeaking())
        seen = await until(pipeline, is_done("u1"))
        await pipeline.send(Speak("u1", "늦게 온 문장.", end=True))  # late chunks are dropped
        await asyncio.sleep(1)
        await pipeline.send(HangUp())
        return seen

    seen = run_virtual(run())
    assert [e for e in seen if isinstance(e, PlaybackMark)][-1] == PlaybackMark("u1", 0, EPOCH, done=True)


def test_a_failing_synthesizer_ends_the_session_with_its_error() -> None:
    class Broken:
        async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[AudioChunk]:
            raise SpeechEngineError("synthesis failed after 3 attempts: HTTP 503")
            yield AudioChunk(b"", 8000)  # pragma: no cover - makes this an async generator

    async def run() -> None:
        pipeline, _ = line({"silent": True}, synthesizer=Broken())
        try:
            await pipeline.send(Speak("u1", "여보세요?", end=True))
            await until(pipeline, lambda e: False)
        finally:
            await pipeline.send(HangUp())

    with pytest.raises(SpeechEngineError, match="HTTP 503"):
        run_virtual(run())


def test_the_tee_sees_both_channels() -> None:
    heard: dict[str, int] = {"agent": 0, "callee": 0}

    def tee(channel: str, pcm: bytes, at: int) -> None:
        heard[channel] += audio.duration_ms(pcm, 8000)

    async def run() -> None:
        pipeline, _ = line({"replies": ["네."]}, tee=tee)
        await pipeline.send(Speak("u1", "여보세요?", end=True))
        await until(pipeline, lambda e: isinstance(e, FinalTranscript))
        await pipeline.send(HangUp())

    run_virtual(run())
    assert heard["agent"] == 520  # 5 characters and the header, in whole frames
    assert heard["callee"] > 2000


def test_engines_are_chosen_by_name() -> None:
    config = EngineConfig()
    assert isinstance(SYNTHESIZERS.create("scripted", config), ScriptedSynthesizer)
    assert isinstance(TRANSCRIBERS.create("scripted", config), ScriptedTranscriber)
    with pytest.raises(UnknownName, match=r"known: .*espeak.*openai.*scripted"):
        SYNTHESIZERS.create("nope", config)
    TRANSCRIBERS.register("test-only", lambda c: ScriptedTranscriber())
    assert "test-only" in TRANSCRIBERS.names()


def test_scripted_audio_reads_back_what_was_rendered_even_after_mulaw() -> None:
    rendered = scripted.render("여보세요, 들리세요?")
    line_audio = audio.mulaw_to_pcm16(audio.pcm16_to_mulaw(audio.silence(60, 8000) + rendered))
    assert scripted.read(line_audio) == "여보세요, 들리세요?"
    half = scripted.read(line_audio[: len(line_audio) // 2])
    assert half.startswith("여보세요") and len(half) < 8


def test_a_gap_in_streamed_synthesis_is_not_the_end_of_the_agents_turn() -> None:
    """A synthesizer slower than real time (a network engine's pieces arriving late): playback
    runs dry between pieces, and the callee still waits for the whole turn instead of answering
    into a gap."""

    class Gappy:
        async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[AudioChunk]:
            rendered = scripted.render(text)
            piece = audio.frame_bytes(8000, ms=100)
            for start in range(0, len(rendered), piece):
                yield AudioChunk(rendered[start : start + piece], 8000)
                await asyncio.sleep(0.15)  # 100 ms of audio every 150 ms

    async def run() -> list[Event]:
        pipeline, _ = line({"replies": ["네."], "think_s": 0.05}, synthesizer=Gappy())
        await pipeline.send(Speak("u1", "첫 부분입니다. 두 번째 부분입니다.", end=True))
        seen = await until(pipeline, lambda e: isinstance(e, SpeechStarted))
        await pipeline.send(HangUp())
        return seen

    seen = run_virtual(run())
    assert any(is_done("u1")(e) for e in seen), "the callee talked before the agent had finished"
    # The 200 ms mark came back while synthesis still streamed: 200 ms is not the whole text
    # (2 characters at the scripted 10 a second; estimated at a brisk 15).
    played = [e.played for e in seen if isinstance(e, PlaybackMark)]
    assert played[:3] == [0, 3, 6] and played[-1] == len("첫 부분입니다. 두 번째 부분입니다.")
