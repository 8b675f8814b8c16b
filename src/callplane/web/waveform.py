"""A recording's waveform for the call page: peaks computed here from the stored WAV, drawn by
the template as an inline SVG (no script library, nothing fetched but the page itself).

The WAV is read through the blob store (`Recordings.blobs`) by the call's `recording_key`. A
stored recording never changes under its key, so the peaks are cached per key: reading a long
call's tens of MB and reducing them happens once per recording per process, and the cache is
bounded so it costs a few hundred bytes per entry whatever the calls' length.
"""

from __future__ import annotations

import io
import threading
import wave
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from callplane.engine.blobs import BlobStore

#: Bars across the player: enough to see who spoke when, few enough for a light SVG.
BARS = 240
#: Peaks are drawn on a 0..100 scale (the SVG's half height).
SCALE = 100
#: Recordings whose peaks are kept.
CACHED = 512


@dataclass(frozen=True, slots=True)
class Waveform:
    duration_ms: int
    #: Per bar, the loudest sample of each channel on 0..SCALE (the recorder's channels: the
    #: agent left, the callee right), scaled to the recording's loudest so quiet lines show.
    agent: tuple[int, ...]
    callee: tuple[int, ...]


def peaks(wav: bytes, bars: int = BARS) -> Waveform | None:
    """The waveform of a 16-bit PCM WAV; None for anything else (nothing to draw)."""
    try:
        with wave.open(io.BytesIO(wav)) as reader:
            channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError):
        return None
    if width != 2 or rate <= 0 or channels not in (1, 2):
        return None
    samples = np.frombuffer(frames, dtype="<i2")
    samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    count = len(samples)
    if count == 0:
        return Waveform(0, (0,) * bars, (0,) * bars)
    starts = np.linspace(0, count, bars, endpoint=False).astype(np.intp)
    # Max and min per bar on the int16 samples themselves: abs() of −32768 would overflow, and
    # widening a long call's samples first would copy them all.
    loud = np.maximum(
        np.maximum.reduceat(samples, starts, axis=0).astype(np.int32),
        -np.minimum.reduceat(samples, starts, axis=0).astype(np.int32),
    )
    top = max(int(loud.max()), 1)
    scaled = (loud * SCALE + top - 1) // top
    agent = tuple(int(v) for v in scaled[:, 0])
    callee = tuple(int(v) for v in scaled[:, -1]) if channels == 2 else agent
    return Waveform(count * 1000 // rate, agent, callee)


@dataclass
class Waveforms:
    """Peaks per stored recording, read through `blobs` once and kept (least recently used go)."""

    blobs: BlobStore
    size: int = CACHED
    _cache: OrderedDict[str, Waveform | None] = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def of(self, recording_key: str) -> Waveform | None:
        with self._lock:
            if recording_key in self._cache:
                self._cache.move_to_end(recording_key)
                return self._cache[recording_key]
        wav = self.blobs.get(recording_key)
        if wav is None:
            return None  # not cached: the blob may yet be written (or restored)
        found = peaks(wav)
        with self._lock:
            self._cache[recording_key] = found
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return found
