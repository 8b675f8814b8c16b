"""The OpenAI-compatible audio engines against a loopback fake that speaks OpenAI's audio HTTP
API (JSON in, streamed PCM out; multipart WAV in, JSON out)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callplane.config import Settings
from callplane.domain.agent import parse_definition
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.errors import ValidationFailed
from callplane.engine import egress
from callplane.engine.live.speech import audio
from callplane.engine.live.speech.openai import OpenAISynthesizer, OpenAITranscriber, _WavStream
from callplane.engine.live.speech.protocols import SpeechEngineError, Voice
from callplane.engine.live.speech.registry import EngineConfig
from tests.engine.live.conversation_kit import a_call, conduct, demo_version, dumps, said, version_of
from tests.fakes.openai_audio import FakeOpenAIAudio, streamed_wav_header
from tests.fakes.server import serve_in_thread


def config(url: str, **kwargs: Any) -> EngineConfig:
    return EngineConfig(**{"base_url": f"{url}/v1", "api_key": "sk-test", "timeout_s": 5, **kwargs})


async def speak_and_hear(url: str, text: str) -> str:
    pcm = b""
    async for chunk in OpenAISynthesizer(config(url)).synthesize(text, Voice()):
        assert chunk.sample_rate == 24000 and len(chunk.pcm) % 2 == 0
        pcm += audio.resample(chunk.pcm, chunk.sample_rate, 8000)
    line = audio.mulaw_to_pcm16(audio.pcm16_to_mulaw(pcm))
    return (await OpenAITranscriber(config(url)).transcribe(line, 8000, Voice())).text


def test_speech_and_transcription_round_trip_through_the_api() -> None:
    fake = FakeOpenAIAudio(api_key="sk-test")
    with serve_in_thread(fake.app) as url:
        assert asyncio.run(speak_and_hear(url, "네, 그 시간에 갈게요.")) == "네, 그 시간에 갈게요."
    assert fake.forms == [{"model": "gpt-4o-mini-transcribe", "language": "ko"}]


def test_word_timings_are_asked_for_where_the_model_gives_them() -> None:
    fake = FakeOpenAIAudio(api_key="sk-test")

    async def hear(url: str) -> Any:
        pcm = b""
        async for chunk in OpenAISynthesizer(config(url)).synthesize("네, 그 시간에 갈게요.", Voice()):
            pcm += audio.resample(chunk.pcm, chunk.sample_rate, 8000)
        return await OpenAITranscriber(config(url, word_timings=True)).transcribe(pcm, 8000, Voice())

    with serve_in_thread(fake.app) as url:
        result = asyncio.run(hear(url))
    assert fake.forms[-1]["response_format"] == "verbose_json"
    assert fake.forms[-1]["timestamp_granularities[]"] == "word"
    assert [w.word for w in result.words] == ["네,", "그", "시간에", "갈게요."]
    assert all(0 <= w.start_ms < w.end_ms for w in result.words)
    assert [w.start_ms for w in result.words] == sorted(w.start_ms for w in result.words)


def test_429_and_5xx_are_retried_then_the_engine_gives_up_with_the_reason() -> None:
    fake = FakeOpenAIAudio(api_key="sk-test")
    with serve_in_thread(fake.app) as url:
        fake.fail_next(429, 503)
        assert asyncio.run(speak_and_hear(url, "여보세요?")) == "여보세요?"
        fake.fail_next(500, 502, 503)
        with pytest.raises(SpeechEngineError, match=r"transcription failed after 3 attempt\(s\): HTTP 503"):
            asyncio.run(OpenAITranscriber(config(url)).transcribe(bytes(3200), 8000, Voice()))
        fake.fail_next(400)
        with pytest.raises(SpeechEngineError, match="HTTP 400"):  # not retried
            asyncio.run(OpenAITranscriber(config(url)).transcribe(bytes(3200), 8000, Voice()))
        assert fake.failures == []


def test_a_self_hosted_servers_rate_is_read_from_its_wav_and_plain_text_is_a_transcript() -> None:
    """A Piper voice speaks at 22.05 kHz and some servers answer transcriptions as text/plain:
    the rate comes from the WAV header (past a `LIST` chunk), the text from the body."""
    fake = FakeOpenAIAudio(rate=22050, plain_text=True)

    async def hear(url: str) -> tuple[set[int], str]:
        rates, pcm = set(), b""
        async for chunk in OpenAISynthesizer(config(url)).synthesize("여보세요?", Voice()):
            rates.add(chunk.sample_rate)
            pcm += audio.resample(chunk.pcm, chunk.sample_rate, 8000)
        return rates, (await OpenAITranscriber(config(url)).transcribe(pcm, 8000, Voice())).text

    with serve_in_thread(fake.app) as url:
        assert asyncio.run(hear(url)) == ({22050}, "여보세요?")


def test_a_slow_engine_is_retried_within_the_turns_budget_then_given_up() -> None:
    fake = FakeOpenAIAudio(delay_s=2.0)
    engine = OpenAITranscriber(config("", timeout_s=0.3, attempts=10, budget_s=0.8))
    with serve_in_thread(fake.app) as url:
        engine.base_url = f"{url}/v1"
        with pytest.raises(
            SpeechEngineError, match=r"transcription failed after [23] attempt\(s\): no answer"
        ):
            asyncio.run(engine.transcribe(bytes(3200), 8000, Voice()))
    assert 2 <= len(fake.transcribed) <= 3  # each attempt reached the server; not ten of them


def test_a_tenants_speech_endpoint_on_loopback_is_refused_at_connect_time() -> None:
    fake = FakeOpenAIAudio()
    with serve_in_thread(fake.app) as url:
        engine = OpenAITranscriber(config(url, trusted=False, attempts=1))
        with pytest.raises(SpeechEngineError, match="destination not allowed"):
            asyncio.run(engine.transcribe(bytes(3200), 8000, Voice()))
    assert fake.forms == []


def test_the_demo_call_goes_through_the_speech_endpoint_on_both_sides() -> None:
    fake = FakeOpenAIAudio(api_key="sk-test")
    with serve_in_thread(fake.app) as url:
        settings = Settings(
            simulator_audio=True, speech_base_url=f"{url}/v1", speech_api_key="sk-test", speech_vad="energy"
        )
        outcome, _ = conduct(a_call(), demo_version(), settings=settings, speed=20.0, virtual=False)
    assert (outcome.status, outcome.reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP), dumps(
        outcome
    )
    assert said(outcome, "user") == ["네, 그 시간에 갈게요."]
    assert (
        "네, 그 시간에 갈게요." in fake.spoken and "네, 그 시간에 갈게요." in fake.transcribed
    )  # callee side
    assert any("홍길동" in text for text in fake.spoken)  # agent side
    assert said(outcome, "agent")[0] in fake.transcribed  # the callee heard the greeting through it


def test_an_engine_that_keeps_failing_ends_the_call_with_the_reason() -> None:
    fake = FakeOpenAIAudio()
    with serve_in_thread(fake.app) as url:
        fake.fail_next(*[503] * 10)
        settings = Settings(simulator_audio=True, speech_base_url=f"{url}/v1", speech_vad="energy")
        outcome, _ = conduct(a_call(), demo_version(), settings=settings, speed=20.0, virtual=False)
    assert outcome.reason is DisconnectionReason.ERROR_VOXAI
    assert outcome.status is CallStatus.ERROR
    detail = outcome.error_detail or ""
    assert "SpeechEngineError: speech synthesis failed after 3 attempt(s): HTTP 503" in detail


def test_an_agent_voice_block_with_a_private_endpoint_is_refused_at_registration() -> None:
    agent = {
        "name": "x",
        "type": "llm",
        "llm": {"prompt": "hi", "voice": {"engine": "openai", "base_url": "http://127.0.0.1:9/v1"}},
    }
    with pytest.raises(ValidationFailed, match=r"llm\.voice\.base_url"):
        egress.vet_agent(parse_definition(agent), allow_private=False)
    egress.vet_agent(parse_definition(agent), allow_private=True)
    assert version_of(agent).config["voice"]["engine"] == "openai"


def test_a_streamed_wav_is_read_however_its_bytes_are_split() -> None:
    """The header may arrive a byte at a time and hold chunks before `data`; what follows the
    `data` chunk's header is PCM to the end, whatever its length field says."""
    pcm = bytes(range(256)) * 8
    body = streamed_wav_header(16000) + pcm
    for size in (1, 3, 7, 44, 4801):
        stream = _WavStream()
        out = b"".join(stream.feed(body[i : i + size]) for i in range(0, len(body), size))
        assert (stream.rate, out) == (16000, pcm)
    with pytest.raises(SpeechEngineError, match="other than a WAV"):
        _WavStream().feed(b"ID3\x04" + bytes(40))  # an MP3, say
    stereo = bytearray(streamed_wav_header(16000))
    stereo[22] = 2  # the fmt chunk's channel count
    with pytest.raises(SpeechEngineError, match="mono 16-bit PCM is needed"):
        _WavStream().feed(bytes(stereo))
