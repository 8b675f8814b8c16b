"""The streaming transcriber against a loopback fake of Deepgram's `/v1/listen` WebSocket."""

from __future__ import annotations

import asyncio

import pytest

from callplane.config import Settings
from callplane.domain.voice import StreamingTranscriber, VoiceSpec
from callplane.engine.clock import LoopClock
from callplane.engine.live.session import Event, FinalTranscript, HangUp, PartialTranscript, Speak
from callplane.engine.live.speech import scripted
from callplane.engine.live.speech.deepgram import DeepgramTranscriber
from callplane.engine.live.speech.pipeline import SpeechPipeline
from callplane.engine.live.speech.protocols import SpeechEngineError, Voice
from callplane.engine.live.speech.registry import EngineConfig
from callplane.engine.live.speech.scripted import ScriptedSynthesizer, ScriptedTranscriber
from callplane.engine.live.speech.stack import SpeechStack
from callplane.engine.live.speech.turns import EnergyActivity, VadTurns
from callplane.engine.live.telephony.provider import DialRequest
from callplane.engine.live.telephony.scenarios import parse_scenarios
from callplane.engine.live.telephony.simulated_audio import CalleeEars, SimulatedAudioLine
from tests.fakes.deepgram import FakeDeepgram
from tests.fakes.server import serve_in_thread

REPLY = "네, 그 시간에 갈게요. 주차는 가능한가요?"


def deepgram(url: str, key: str = "dg-test") -> DeepgramTranscriber:
    ws = url.replace("http://", "ws://") + "/v1/listen"
    return DeepgramTranscriber(EngineConfig(streaming_url=ws, streaming_api_key=key, timeout_s=5, attempts=2))


def test_the_callees_turn_streams_to_the_engine_with_partials_then_a_final_with_words() -> None:
    fake = FakeDeepgram()

    async def run() -> list[Event]:
        scenario = parse_scenarios(
            {"scenarios": [{"numbers": ["*"], "rings": 0, "persona": {"replies": [REPLY]}}]}
        )[0]
        clock = LoopClock()
        ears = CalleeEars(ScriptedSynthesizer(), ScriptedTranscriber(), Voice())
        request = DialRequest("call-1", 1, "+827011112222", "+821012345678", None, 30.0)
        raw = SimulatedAudioLine(request, scenario, clock, 10.0, ears)
        raw.start()
        pipeline = SpeechPipeline(
            raw,
            clock,
            synthesizer=ScriptedSynthesizer(),
            transcriber=deepgram(url),
            turns=VadTurns(EnergyActivity()),
            voice=Voice(),
        )
        await pipeline.send(Speak("u1", "여보세요?", end=True))
        seen: list[Event] = []
        while not seen or not isinstance(seen[-1], FinalTranscript):
            seen.append(await asyncio.wait_for(pipeline.receive(), 30))
        await pipeline.send(HangUp())
        return seen

    with serve_in_thread(fake.app) as url:
        seen = asyncio.run(run())
    partials = [e.text for e in seen if isinstance(e, PartialTranscript)]
    final = seen[-1]
    assert isinstance(final, FinalTranscript) and final.text == REPLY
    assert partials and all(REPLY.startswith(p) for p in partials) and len(partials[0]) < len(REPLY)
    assert [w.word for w in final.words] == REPLY.split()
    assert final.words[0].start_at <= final.start_at + 300 and final.words[-1].end_at >= final.end_at - 100
    assert (
        fake.queries[0] | {"sample_rate": "8000", "encoding": "linear16", "language": "ko"} == fake.queries[0]
    )


def test_a_refused_key_is_retried_then_ends_with_the_reason() -> None:
    fake = FakeDeepgram()
    with serve_in_thread(fake.app) as url, pytest.raises(SpeechEngineError, match=r"after 2 attempt\(s\)"):
        asyncio.run(deepgram(url, key="wrong").transcribe(bytes(3200), 8000, Voice()))
    assert fake.queries == []


def test_a_batch_call_goes_through_the_stream_too() -> None:
    fake = FakeDeepgram()
    with serve_in_thread(fake.app) as url:
        result = asyncio.run(deepgram(url).transcribe(scripted.render("여보세요?"), 8000, Voice()))
    assert result.text == "여보세요?"


def test_a_tenants_voice_block_hears_through_deepgram_with_its_own_key() -> None:
    stack = SpeechStack.from_settings(Settings(speech_streaming_api_key="operator-key"))
    spec = VoiceSpec(transcriber=StreamingTranscriber.DEEPGRAM, transcriber_api_key="tenant-key")
    _, transcriber, _ = stack.engines(spec)
    assert isinstance(transcriber, DeepgramTranscriber)
    assert transcriber.config.streaming_api_key == "tenant-key"
    assert transcriber.config.streaming_url == Settings().speech_streaming_url  # the operator's endpoint
    _, transcriber, _ = stack.engines(VoiceSpec(transcriber=StreamingTranscriber.DEEPGRAM))
    assert isinstance(transcriber, DeepgramTranscriber)
    assert transcriber.config.streaming_api_key == "operator-key"


def test_a_stalled_stream_is_kept_alive_past_deepgrams_idle_timeout() -> None:
    fake = FakeDeepgram(idle_timeout_s=2.0)  # Deepgram's is 10 s; scaled down with the keepalive

    async def run(url: str) -> tuple[str, int]:
        pcm = b"".join([c.pcm async for c in ScriptedSynthesizer().synthesize(REPLY, Voice())])
        half = len(pcm) // 4 * 2
        ws = url.replace("http://", "ws://") + "/v1/listen"
        config = EngineConfig(
            streaming_url=ws, streaming_api_key="dg-test", timeout_s=5, attempts=1, streaming_keepalive_s=0.2
        )
        stream = await DeepgramTranscriber(config).open(8000, Voice(), lambda text: None)
        try:
            await stream.send(pcm[:half])
            await asyncio.sleep(3.0)  # the carrier's stream stalls for longer than the idle timeout
            await stream.send(pcm[half:])
            return (await stream.finish()).text, stream.keepalives
        finally:
            await stream.aclose()

    with serve_in_thread(fake.app) as url:
        text, sent = asyncio.run(run(url))
    assert text == REPLY
    assert fake.timed_out == 0 and fake.keepalives == sent >= 1
