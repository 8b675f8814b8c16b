"""Audio helpers: G.711 μ-law against the standard's values, resampling, frames."""

from __future__ import annotations

import numpy as np

from callplane.engine.live.session import Codec
from callplane.engine.live.speech import audio


def pcm(*samples: int) -> bytes:
    return np.array(samples, dtype="<i2").tobytes()


def test_mulaw_encodes_as_g711() -> None:
    # ITU-T G.711 μ-law: 0 → 0xFF, full scale → 0x80 / 0x00; -1 → 0x7E (14-bit input, as
    # CPython's audioop computed it: checked equal over all 65536 values before it was removed).
    assert audio.pcm16_to_mulaw(pcm(0, 32767, -32768, -1, 1000)) == bytes([0xFF, 0x80, 0x00, 0x7E, 0xCE])


def test_mulaw_decodes_as_g711() -> None:
    decoded = np.frombuffer(audio.mulaw_to_pcm16(bytes([0xFF, 0x80, 0x00, 0x7F])), dtype="<i2")
    assert decoded.tolist() == [0, 32124, -32124, 0]


def test_every_code_survives_a_round_trip() -> None:
    codes = bytes(range(256))
    again = audio.pcm16_to_mulaw(audio.mulaw_to_pcm16(codes))
    # 0x7F and 0xFF both decode to 0 (μ-law's two zeros); 0 encodes as 0xFF.
    assert again == codes.replace(b"\x7f", b"\xff")


def test_round_trip_error_stays_within_the_segment_step() -> None:
    samples = np.arange(-32000, 32000, 97, dtype="<i2")
    back = np.frombuffer(audio.mulaw_to_pcm16(audio.pcm16_to_mulaw(samples.tobytes())), dtype="<i2")
    error = np.abs(back.astype(np.int32) - samples.astype(np.int32))
    assert (error <= np.abs(samples.astype(np.int32)) // 16 + 8).all()


def test_resampling_keeps_duration_and_a_tone_stays_a_tone() -> None:
    t = np.arange(22050) / 22050
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    out = audio.resample(tone, 22050, 8000)
    assert audio.duration_ms(out, 8000) == 1000
    spectrum = np.abs(np.fft.rfft(np.frombuffer(out, dtype="<i2")))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # 1 s of audio: bin n is n Hz


def test_codec_helpers_and_frame_sizes() -> None:
    assert audio.frame_bytes(8000) == 320
    assert audio.frame_bytes(8000, Codec.MULAW) == 160
    assert audio.decode(audio.encode(pcm(0, 0), Codec.MULAW), Codec.MULAW) == pcm(0, 0)
    assert audio.peak(pcm(3, -700, 20)) == 700
