"""Audio plumbing: G.711 μ-law ↔ PCM16, resampling, 20 ms frames.

Inside the pipeline audio is PCM16 (signed 16-bit little-endian, mono) at the line's rate;
carriers speak μ-law at 8 kHz, engines whatever they like (espeak-ng 22.05 kHz, OpenAI 24 kHz,
pocketsphinx wants 16 kHz).

Why numpy and soxr rather than `audioop`: `audioop` warns on 3.11/3.12 and is gone in 3.13,
and its `audioop-lts` port installs on 3.13+ only, so neither covers our 3.11–3.13 range with one
code path. μ-law is a fixed 256-entry table (ITU-T G.711), so with numpy a frame is one table
lookup each way — vectorised, no per-sample Python. `soxr` (libsoxr, what pipecat uses) is a
well-kept high-quality resampler; naive interpolation would alias the 22 kHz synthesis into the
phone band.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from callplane.engine.live.session import Codec

FRAME_MS = 20
_BIAS = 0x84
_CLIP = 32635  # 8159 in audioop's 14-bit scale


def _mulaw_decode_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _mulaw_encode_table() -> npt.NDArray[np.uint8]:
    """Every PCM16 value's μ-law byte (64 KiB, built once), computed as CPython's `audioop`
    did (14-bit input, segment search), so bytes match what carriers and older code produce."""
    samples = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(samples < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(samples), _CLIP >> 2) + (_BIAS >> 2)
    segment = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), magnitude)
    value = np.where(
        segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (np.minimum(segment, 7) + 1)) & 0x0F)
    )
    return ((value ^ mask) & 0xFF).astype(np.uint8)


_DECODE = _mulaw_decode_table()
_ENCODE = _mulaw_encode_table()


def mulaw_to_pcm16(data: bytes) -> bytes:
    return _DECODE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def pcm16_to_mulaw(data: bytes) -> bytes:
    samples = np.frombuffer(data, dtype="<i2").astype(np.int32) + 32768
    return _ENCODE[samples].tobytes()


def decode(data: bytes, codec: Codec) -> bytes:
    """Any supported codec to PCM16."""
    if codec is Codec.PCM16:
        return data
    if codec is Codec.MULAW:
        return mulaw_to_pcm16(data)
    raise ValueError(f"unsupported codec {codec}")


def encode(pcm: bytes, codec: Codec) -> bytes:
    if codec is Codec.PCM16:
        return pcm
    if codec is Codec.MULAW:
        return pcm16_to_mulaw(pcm)
    raise ValueError(f"unsupported codec {codec}")


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    if from_rate == to_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    out: npt.NDArray[np.int16] = soxr.resample(samples, from_rate, to_rate)
    return out.astype("<i2").tobytes()


class Resampler:
    """Resamples a stream piece by piece with one filter state, so piece boundaries leave no
    clicks (resampling each piece on its own would restart the filter at every boundary)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self._stream = (
            None if from_rate == to_rate else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16")
        )

    def push(self, pcm: bytes, *, last: bool = False) -> bytes:
        if self._stream is None:
            return pcm
        out: npt.NDArray[np.int16] = self._stream.resample_chunk(np.frombuffer(pcm, dtype="<i2"), last=last)
        return out.astype("<i2").tobytes()


def frame_bytes(sample_rate: int, codec: Codec = Codec.PCM16, ms: int = FRAME_MS) -> int:
    samples = sample_rate * ms // 1000
    return samples * (2 if codec is Codec.PCM16 else 1)


def duration_ms(pcm: bytes, sample_rate: int) -> int:
    return len(pcm) * 1000 // (2 * sample_rate)


def silence(ms: int, sample_rate: int) -> bytes:
    return bytes(2 * (sample_rate * ms // 1000))


def peak(pcm: bytes) -> int:
    if not pcm:
        return 0
    return int(np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32)).max())
