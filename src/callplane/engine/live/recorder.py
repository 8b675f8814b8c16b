"""The call's recording: both sides of the line as one two-channel WAV, kept in memory.

Fed by the speech pipeline's `tee` (so every audio line — the simulated one, a carrier's media
stream — is recorded the same way), it never touches a disk: the conductor hands the finished
WAV to the worker with the `Outcome`, and the worker stores it (engine/blobs). An opted-out call
gets no recorder at all. A text-only call has no audio, so no recording.

Layout: 16-bit PCM, 8 kHz (the telephone band the line carries), **channel 0 the agent,
channel 1 the callee**. While the call runs the tracks are kept as G.711 μ-law, one byte a
sample: that is what the line carries both ways, so nothing the callee heard or said is lost, and
a minute costs ~1 MB of memory instead of ~2 (a ten-minute call ~9.6 MB); the WAV (twice that)
exists only once the call is over, built off the loop.

Time alignment. A carrier streams the callee's audio without a break from answer to hang-up
(silence included), so the callee's samples received so far are the line's clock: callee frames
are appended in order. Their arrival times are not used: when our own loop stalls, frames that
were sent on time arrive late, in a burst, and placing them by arrival would stretch the
recording by every stall. The agent's frames are sent faster than they play, so each is placed
where the line was when it was sent, after the agent audio still queued before it (a carrier
plays its queue back to back); a clear (barge-in) cuts the agent audio that had not played yet,
which the callee never heard. The end is padded to the hang-up. On a simulated line sped up by
`CALLPLANE_SIMULATOR_SPEED`, audio still plays at the pace people talk, so its recording lasts
`speed` times the call's duration.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from callplane.engine.live.speech import audio

SAMPLE_RATE = 8000
_BYTES_PER_MS = SAMPLE_RATE // 1000  #: μ-law: a byte a sample
_SILENCE = audio.pcm16_to_mulaw(bytes(2))  #: μ-law's zero is not the byte 0


@dataclass(frozen=True, slots=True)
class Recording:
    """Both tracks of a finished call; `wav()` builds the file (off the loop: the worker calls it
    in a thread, since a long call's WAV is tens of MB of interleaving)."""

    agent: bytearray  #: μ-law
    callee: bytearray
    duration_ms: int

    content_type = "audio/wav"

    def tracks(self) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
        """(agent, callee) as PCM16 samples, each `duration_ms` long."""
        samples = self.duration_ms * _BYTES_PER_MS
        out = []
        for track in (self.agent, self.callee):
            pcm = np.zeros(samples, dtype="<i2")
            decoded = np.frombuffer(audio.mulaw_to_pcm16(bytes(track[:samples])), dtype="<i2")
            pcm[: len(decoded)] = decoded
            out.append(pcm)
        return out[0], out[1]

    def wav(self) -> bytes:
        agent, callee = self.tracks()
        stereo = np.empty(len(agent) * 2, dtype="<i2")
        stereo[0::2], stereo[1::2] = agent, callee
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(stereo.data)  # the array's own buffer: no copy of a long call
        return out.getvalue()


class Recorder:
    """A `Tee` for the speech pipeline (`recorder.tee`): ("callee" | "agent", PCM16 at 8 kHz,
    Unix ms), and "cleared" when the agent's queued audio was dropped."""

    def __init__(self, max_ms: int) -> None:
        self.max_bytes = max_ms * _BYTES_PER_MS
        self._origin: int | None = None  #: Unix ms of the first frame
        self._callee = bytearray()
        self._agent = bytearray()

    def tee(self, channel: str, pcm: bytes, at: int) -> None:
        if self._origin is None:
            self._origin = at
        if channel == "callee":
            self._append(self._callee, audio.pcm16_to_mulaw(pcm), 0)
        elif channel == "agent":
            self._append(self._agent, audio.pcm16_to_mulaw(pcm), len(self._callee))
        elif channel == "cleared":
            del self._agent[len(self._callee) :]

    def _wall_bytes(self, at: int) -> int:
        assert self._origin is not None
        return max(0, at - self._origin) * _BYTES_PER_MS

    def _append(self, track: bytearray, samples: bytes, at_least: int) -> None:
        start = min(max(len(track), at_least), self.max_bytes)
        if start > len(track):
            track.extend(_SILENCE * (start - len(track)))
        track.extend(samples[: self.max_bytes - start])

    def finish(self, ended_at: int) -> Recording | None:
        """The call's tracks, as long as the line was up; None when no audio ever passed (a text
        line). The recorder keeps nothing afterwards."""
        if self._origin is None:
            return None
        length = min(self.max_bytes, max(len(self._callee), len(self._agent), self._wall_bytes(ended_at)))
        recording = Recording(self._agent, self._callee, length // _BYTES_PER_MS)
        self._agent, self._callee = bytearray(), bytearray()
        return recording
