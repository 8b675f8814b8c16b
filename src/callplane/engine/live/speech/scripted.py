"""Deterministic stand-ins for real engines, for tests and the simulated audio line.

`ScriptedSynthesizer` renders text as a tone whose length follows the text (`CHARS_PER_S`),
preceded by a short header that carries the phrase's number in the phrasebook; the header's
samples are exact μ-law values, so they survive the line's μ-law round trip bit for bit.
`ScriptedTranscriber` finds the header in an utterance's audio, looks the phrase up, and returns
as much of it as the tone after the header lasted — so audio cut short (a barge-in, a clear)
transcribes to the part that was heard, like a real recogniser would.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import numpy as np

from callplane.engine.live.speech import audio
from callplane.engine.live.speech.protocols import AudioChunk, Recognized, Voice
from callplane.engine.live.speech.registry import EngineConfig

SAMPLE_RATE = 8000
CHARS_PER_S = 10.0
_HIGH, _LOW = 7932, -7932  # μ-law code points: decode(encode(x)) == x
_MAGIC = (1, 0, 1, 1, 0, 0, 1, 0)
_ID_BITS = 24
_REPEAT = 4  # samples per bit
_TONE = np.tile(np.array([3900, 3900, -3900, -3900], dtype="<i2"), SAMPLE_RATE // 4)


class Phrasebook:
    """Phrase numbers to phrases; one per process is enough (numbers never repeat)."""

    def __init__(self) -> None:
        self._phrases: dict[int, str] = {}
        self._ids = itertools.count(1)

    def add(self, text: str) -> int:
        number = next(self._ids) % (1 << _ID_BITS)
        self._phrases[number] = text
        return number

    def get(self, number: int) -> str | None:
        return self._phrases.get(number)


PHRASEBOOK = Phrasebook()


def _header(number: int) -> bytes:
    bits = (*_MAGIC, *((number >> i) & 1 for i in range(_ID_BITS)))
    samples = np.repeat(np.array([_HIGH if b else _LOW for b in bits], dtype="<i2"), _REPEAT)
    return samples.tobytes()


_HEADER_SAMPLES = (len(_MAGIC) + _ID_BITS) * _REPEAT


def render(text: str, book: Phrasebook = PHRASEBOOK) -> bytes:
    samples = round(len(text) / CHARS_PER_S * SAMPLE_RATE)
    tone = np.resize(_TONE, samples).astype("<i2")
    return _header(book.add(text)) + tone.tobytes()


def read(pcm: bytes, book: Phrasebook = PHRASEBOOK) -> str:
    """Every phrase whose header is in `pcm`, each cut to the length of the tone that followed."""
    samples = np.frombuffer(pcm, dtype="<i2")
    bits = np.where(samples == _HIGH, 1, np.where(samples == _LOW, 0, -1))
    magic = np.repeat(np.array(_MAGIC), _REPEAT)
    found: list[tuple[int, str]] = []
    # A header starts where a run of high samples does; the tone never reaches that level.
    starts = np.flatnonzero((bits == 1) & (np.concatenate(([-1], bits[:-1])) != 1))
    for start in (int(s) for s in starts if s + _HEADER_SAMPLES <= len(samples)):
        if not np.array_equal(bits[start : start + len(magic)], magic):
            continue
        body = bits[start + len(magic) : start + _HEADER_SAMPLES : _REPEAT]
        phrase = None if (body < 0).any() else book.get(sum(int(b) << i for i, b in enumerate(body)))
        if phrase is not None:
            found.append((start, phrase))
    words = []
    for i, (start, phrase) in enumerate(found):
        end = found[i + 1][0] if i + 1 < len(found) else len(samples)
        tone = samples[start + _HEADER_SAMPLES : end].astype(np.int32)
        chars = round(int(np.count_nonzero(np.abs(tone) > 1000)) / SAMPLE_RATE * CHARS_PER_S)
        words.append(phrase[:chars].strip())
    return " ".join(w for w in words if w)


class ScriptedSynthesizer:
    def __init__(self, config: EngineConfig | None = None, *, chunk_ms: int = 200) -> None:
        self.chunk_ms = chunk_ms

    async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[AudioChunk]:
        rendered = render(text)
        step = audio.frame_bytes(SAMPLE_RATE, ms=self.chunk_ms)
        for i in range(0, len(rendered), step):
            yield AudioChunk(rendered[i : i + step], SAMPLE_RATE)


class ScriptedTranscriber:
    def __init__(self, config: EngineConfig | None = None) -> None:
        pass

    async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized:
        if sample_rate != SAMPLE_RATE:
            pcm = audio.resample(pcm, sample_rate, SAMPLE_RATE)  # the header will not survive: ""
        return Recognized(read(pcm))
