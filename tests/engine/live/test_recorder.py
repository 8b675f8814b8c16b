"""The recorder on its own: where frames land on the line's clock, the WAV it builds."""

from __future__ import annotations

import io
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest

from callplane.engine.live import recorder as recorder_module
from callplane.engine.live.recorder import SAMPLE_RATE, Recorder, Recording
from callplane.engine.live.speech import audio

T0 = 1_767_225_600_000
FRAME = 160  # samples in 20 ms at 8 kHz


def q(value: int) -> int:
    """The level as the line carries it: tracks are kept as μ-law, like the line itself."""
    pcm = np.int16(value).tobytes()
    return int(np.frombuffer(audio.mulaw_to_pcm16(audio.pcm16_to_mulaw(pcm)), "<i2")[0])


def tone(value: int, samples: int = FRAME) -> bytes:
    return np.full(samples, q(value), dtype="<i2").tobytes()


def channels(recording: Recording) -> tuple[np.ndarray, np.ndarray]:
    with recording.open() as stream:
        wav_bytes = stream.read()
    assert len(wav_bytes) == recording.size
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, SAMPLE_RATE)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return frames[0::2], frames[1::2]  # agent, callee


def test_channel_0_is_the_agent_and_1_the_callee_on_one_timeline() -> None:
    recorder = Recorder(max_ms=60_000)
    for i in range(50):  # one second of callee audio, a frame every 20 ms
        recorder.tee("callee", tone(1000), T0 + 20 * i)
        if i == 25:  # the agent starts speaking half a second in: 0.3 s, sent at once
            recorder.tee("agent", tone(-2000, FRAME * 15), T0 + 20 * i)
    recording = recorder.finish(T0 + 1000)
    assert recording is not None and recording.duration_ms == 1000
    agent, callee = channels(recording)
    assert len(agent) == len(callee) == SAMPLE_RATE
    assert (callee == q(1000)).all()
    # Placed where the line was when it was sent (after the 26th callee frame), then silence.
    start = 26 * FRAME
    assert (agent[:start] == 0).all() and (agent[start : start + FRAME * 15] == q(-2000)).all()
    assert (agent[start + FRAME * 15 :] == 0).all()


def test_agent_audio_queued_back_to_back_and_a_clear_drops_what_had_not_played() -> None:
    recorder = Recorder(max_ms=60_000)
    recorder.tee("callee", tone(0), T0)
    for _ in range(10):  # 200 ms sent in a burst: it plays one frame after another
        recorder.tee("agent", tone(500), T0)
    for i in range(1, 5):
        recorder.tee("callee", tone(700), T0 + 20 * i)
    recorder.tee("cleared", b"", T0 + 100)  # barge-in after 5 callee frames: the rest never played
    recording = recorder.finish(T0 + 100)
    assert recording is not None
    agent, _ = channels(recording)
    assert (agent[FRAME : 5 * FRAME] == q(500)).all()
    assert len(agent) == 5 * FRAME  # nothing of the 6 frames cut survives


def test_late_callee_frames_are_appended_not_placed_by_arrival() -> None:
    """A stalled loop reads frames late and in a burst; they were sent on time, back to back."""
    recorder = Recorder(max_ms=60_000)
    recorder.tee("callee", tone(1000), T0)
    for _ in range(25):  # the loop stalled half a second: 25 frames read at once
        recorder.tee("callee", tone(2000), T0 + 520)
    recording = recorder.finish(T0 + 520)
    assert recording is not None and recording.duration_ms == 520
    _, callee = channels(recording)
    assert (callee[:FRAME] == q(1000)).all() and (callee[FRAME : 26 * FRAME] == q(2000)).all()


def test_bounded_by_max_ms_and_padded_to_the_hang_up() -> None:
    recorder = Recorder(max_ms=100)
    for i in range(20):
        recorder.tee("callee", tone(9000), T0 + 20 * i)
    recording = recorder.finish(T0 + 400)
    assert recording is not None and recording.duration_ms == 100
    agent, callee = channels(recording)
    assert len(callee) == 800 and (callee == q(9000)).all() and (agent == 0).all()

    recorder = Recorder(max_ms=10_000)
    recorder.tee("callee", tone(9000), T0)
    recording = recorder.finish(T0 + 2000)  # the line stayed up two seconds after the last frame
    assert recording is not None and recording.duration_ms == 2000


def test_no_audio_means_no_recording() -> None:
    assert Recorder(max_ms=1000).finish(T0) is None


def test_tracks_spool_to_nameless_files_and_a_clear_reaches_into_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `SPOOL_BYTES` a track goes to its temporary file, which has no name in any folder (a
    crash leaves nothing behind); a clear that reaches back past the spooled part still cuts."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(recorder_module, "SPOOL_BYTES", 4 * FRAME)
    recorder = Recorder(max_ms=60_000)
    recorder.tee("callee", tone(100), T0)
    for _ in range(20):  # 400 ms of the agent sent at once: most of it spooled
        recorder.tee("agent", tone(-300), T0)
    for i in range(1, 3):
        recorder.tee("callee", tone(200), T0 + 20 * i)
    recorder.tee("cleared", b"", T0 + 60)  # after 3 callee frames: 2 agent frames had played
    for i in range(3, 50):
        recorder.tee("callee", tone(300), T0 + 20 * i)
    assert list(tmp_path.iterdir()) == []  # spooled (the callee's track too), yet no names
    recording = recorder.finish(T0 + 1000)
    assert recording is not None and recording.duration_ms == 1000
    agent, callee = channels(recording)
    assert (agent[:FRAME] == 0).all() and (agent[FRAME : 3 * FRAME] == q(-300)).all()
    assert (agent[3 * FRAME :] == 0).all()
    assert (callee[:FRAME] == q(100)).all() and (callee[3 * FRAME :] == q(300)).all()
    recording.close()
    assert list(tmp_path.iterdir()) == []


def test_a_long_silence_before_the_agent_speaks_is_padded_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_module, "SPOOL_BYTES", 4 * FRAME)
    recorder = Recorder(max_ms=60_000)
    for i in range(250):  # five seconds of the callee before the agent says anything
        recorder.tee("callee", tone(100), T0 + 20 * i)
    recorder.tee("agent", tone(-300), T0 + 5000)
    recording = recorder.finish(T0 + 5020)
    assert recording is not None
    agent, _ = channels(recording)
    assert (agent[: 250 * FRAME] == 0).all() and (agent[250 * FRAME :] == q(-300)).all()
