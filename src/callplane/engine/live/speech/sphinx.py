"""Offline English recognition with PocketSphinx (its wheel carries the en-us model).

Recognition is CPU work, so it runs in a thread and never holds the loop that carries audio.
The model takes a second or two to load and a decoder is not thread-safe, so each process keeps
one decoder behind a lock. English only: offline Korean recognition is not usable for real calls
(see README), and this engine does not pretend otherwise — other languages are decoded with the
English model.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from callplane.engine.live.speech import audio
from callplane.engine.live.speech.protocols import Recognized, Voice, WordTiming
from callplane.engine.live.speech.registry import EngineConfig

MODEL_RATE = 16000
_FRAME_S = 0.01  #: a PocketSphinx frame
_PAD_MS = 300  # the model decodes far better with silence around the words (measured)
_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]"}

_lock = threading.Lock()
_decoder: Any = None


def _recognize(pcm: bytes) -> Recognized:
    global _decoder
    from pocketsphinx import Decoder  # the speech extra

    padded = audio.silence(_PAD_MS, MODEL_RATE) + pcm + audio.silence(_PAD_MS, MODEL_RATE)
    with _lock:
        if _decoder is None:
            _decoder = Decoder(samprate=MODEL_RATE, loglevel="FATAL")
        decoder = _decoder
        decoder.start_utt()
        decoder.process_raw(padded, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        words = tuple(
            WordTiming(
                segment.word.split("(")[0],
                max(0, round(segment.start_frame * _FRAME_S * 1000) - _PAD_MS),
                max(0, round(segment.end_frame * _FRAME_S * 1000) - _PAD_MS),
            )
            for segment in decoder.seg()
            if segment.word not in _FILLERS
        )
    return Recognized(hypothesis.hypstr if hypothesis is not None else "", words)


class SphinxTranscriber:
    def __init__(self, config: EngineConfig | None = None) -> None:
        pass

    async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized:
        return await asyncio.to_thread(_recognize, audio.resample(pcm, sample_rate, MODEL_RATE))
