"""The offline engines on their own: espeak-ng (the Debian binary) and PocketSphinx (its wheel's
English model)."""

from __future__ import annotations

import asyncio

import pytest

from callplane.engine.live.speech import audio
from callplane.engine.live.speech.espeak import EspeakSynthesizer, espeak_voice
from callplane.engine.live.speech.protocols import SpeechEngineError, Voice
from callplane.engine.live.speech.sphinx import SphinxTranscriber


async def speak(text: str, voice: Voice) -> bytes:
    pcm = b""
    async for chunk in EspeakSynthesizer().synthesize(text, voice):
        pcm += audio.resample(chunk.pcm, chunk.sample_rate, 8000)
    return pcm


def test_voices_follow_the_language() -> None:
    assert espeak_voice(Voice()) == "ko"
    assert espeak_voice(Voice(language="en-US")) == "en-us"
    assert espeak_voice(Voice(language="ja-JP")) == "ja"
    assert espeak_voice(Voice("en-us+f3", "en-US")) == "en-us+f3"


def test_without_the_binary_the_engine_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SpeechEngineError, match="apt-get install espeak-ng"):
        EspeakSynthesizer()


@pytest.mark.slow
def test_espeak_speaks_korean_and_english() -> None:
    korean = asyncio.run(speak("안녕하세요, 콜플레인 치과입니다.", Voice()))
    english = asyncio.run(speak("Hello, this is the clinic.", Voice(language="en-US")))
    for pcm in (korean, english):
        assert 1000 <= audio.duration_ms(pcm, 8000) <= 5000
        assert audio.peak(pcm) > 5000


@pytest.mark.slow
def test_pocketsphinx_hears_espeak_english_through_mulaw_with_word_timings() -> None:
    pcm = asyncio.run(speak("hello how are you", Voice(language="en-US")))
    line = audio.mulaw_to_pcm16(audio.pcm16_to_mulaw(pcm))
    result = asyncio.run(SphinxTranscriber().transcribe(line, 8000, Voice(language="en-US")))
    assert result.text.endswith("how are you"), result
    assert [w.word for w in result.words][-3:] == ["how", "are", "you"]
    starts = [w.start_ms for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end_ms <= audio.duration_ms(pcm, 8000) + 100
