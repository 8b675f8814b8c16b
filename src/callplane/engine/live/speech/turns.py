"""Turn detection: voice activity per frame, and a turn's start and end from it.

A turn starts after `start_ms` of speech — long enough that a cough or a click on the line
does not stop the agent — and ends after `silence_ms` without speech. Both count audio time
(frames), not wall time, so a turn ends the same way at any simulator speed.
"""

from __future__ import annotations

from typing import Any

from callplane.engine.live.speech import audio
from callplane.engine.live.speech.protocols import Turn, VoiceActivity
from callplane.engine.live.speech.registry import EngineConfig


class EnergyActivity:
    """Speech is a frame whose peak is above `threshold`: exact on synthetic audio, and no model.

    Fine for the simulated line (silence there is digital zero); a real line's noise needs
    `webrtc`."""

    def __init__(self, config: EngineConfig | None = None, *, threshold: int = 500) -> None:
        self.threshold = threshold

    def is_speech(self, frame: bytes, sample_rate: int) -> bool:
        return audio.peak(frame) > self.threshold


class WebRtcActivity:
    """Google's WebRTC VAD (a small GMM inside the `webrtcvad-wheels` wheel; no model download).

    Mode 2 of 0–3 (3 is the most eager to call noise silence): phone lines are noisy."""

    def __init__(self, config: EngineConfig | None = None, *, mode: int = 2) -> None:
        import webrtcvad  # the speech extra; imported here so the core install does not need it

        self._vad: Any = webrtcvad.Vad(mode)

    def is_speech(self, frame: bytes, sample_rate: int) -> bool:
        return bool(self._vad.is_speech(frame, sample_rate))


class VadTurns:
    """A `TurnDetector` over any `VoiceActivity`."""

    def __init__(self, activity: VoiceActivity, *, start_ms: int = 100, silence_ms: int = 700) -> None:
        self.activity = activity
        self.start_ms = start_ms
        self.silence_ms = silence_ms
        self._voiced = 0  #: ms of speech in a row, before the turn started
        self._quiet = 0  #: ms of silence in a row, during a turn
        self._in_turn = False
        self._turn_ms = 0

    @property
    def speech_ms(self) -> int:
        return self._turn_ms if self._in_turn else self._voiced

    def feed(self, frame: bytes, sample_rate: int) -> Turn | None:
        ms = audio.duration_ms(frame, sample_rate)
        speech = self.activity.is_speech(frame, sample_rate)
        if not self._in_turn:
            self._voiced = self._voiced + ms if speech else 0
            if self._voiced >= self.start_ms:
                self._in_turn, self._turn_ms, self._quiet = True, self._voiced, 0
                return Turn.STARTED
            return None
        self._turn_ms += ms
        self._quiet = 0 if speech else self._quiet + ms
        if self._quiet >= self.silence_ms:
            self._in_turn, self._voiced = False, 0
            return Turn.ENDED
        return None
