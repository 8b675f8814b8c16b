"""Turn detection counts audio, not wall time: a turn starts after `start_ms` of speech and ends
after `silence_ms` without it."""

from __future__ import annotations

import numpy as np

from callplane.config import Settings
from callplane.domain.voice import VoiceSpec
from callplane.engine.clock import LoopClock
from callplane.engine.live.session import RawCommand, RawEvent
from callplane.engine.live.speech import audio
from callplane.engine.live.speech.protocols import Turn
from callplane.engine.live.speech.stack import SpeechStack
from callplane.engine.live.speech.turns import EnergyActivity, VadTurns, WebRtcActivity

RATE = 8000


def tone(ms: int, amplitude: int = 6000) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (amplitude * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()


def frames(pcm: bytes) -> list[bytes]:
    size = audio.frame_bytes(RATE)
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def feed(turns: VadTurns, pcm: bytes) -> list[tuple[int, Turn]]:
    return [(i * 20, t) for i, f in enumerate(frames(pcm)) if (t := turns.feed(f, RATE)) is not None]


def test_a_turn_starts_after_100_ms_of_speech_and_ends_after_the_silence() -> None:
    turns = VadTurns(EnergyActivity(), silence_ms=700)
    pcm = audio.silence(200, RATE) + tone(1000) + audio.silence(1000, RATE)
    assert feed(turns, pcm) == [(280, Turn.STARTED), (1880, Turn.ENDED)]


def test_a_click_is_not_a_turn_and_a_short_pause_does_not_end_one() -> None:
    turns = VadTurns(EnergyActivity(), silence_ms=700)
    click = tone(60) + audio.silence(500, RATE)
    words = tone(400) + audio.silence(500, RATE) + tone(400) + audio.silence(800, RATE)
    assert feed(turns, click + words) == [(640, Turn.STARTED), (2540, Turn.ENDED)]


def test_line_noise_is_not_speech_to_webrtc_but_a_voice_like_signal_is() -> None:
    vad = WebRtcActivity()
    rng = np.random.default_rng(7)
    hiss = (rng.normal(0, 30, RATE)).astype("<i2").tobytes()
    assert sum(vad.is_speech(f, RATE) for f in frames(hiss)) <= 5  # of 50: it adapts to the noise
    # A vowel-like harmonic stack at speech level.
    t = np.arange(RATE) / RATE
    vowel = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((150, 300, 450, 700, 1100), 1))
    voiced = (4000 * vowel).astype("<i2").tobytes()
    assert sum(vad.is_speech(f, RATE) for f in frames(voiced)) > 40


def test_the_barge_in_threshold_is_a_setting_speech_shorter_than_it_is_no_turn() -> None:
    settings = Settings(speech_barge_in_ms=300, speech_vad="energy")
    pipeline = SpeechStack.from_settings(settings).pipeline(_Silent(), LoopClock(0), VoiceSpec())
    turns = pipeline.hearing.turns
    assert isinstance(turns, VadTurns) and turns.start_ms == 300
    # A 200 ms burst (a cough) starts nothing; 300 ms of speech does, at its 300th ms.
    assert feed(turns, tone(200) + bytes(2 * RATE)) == []
    assert feed(turns, tone(400))[0] == (280, Turn.STARTED)


class _Silent:
    telephony_id = "silent"

    async def receive(self) -> RawEvent:
        raise AssertionError("not read in this test")

    async def send(self, command: RawCommand) -> None:
        return None
