"""The call's recording: both sides of the line as one two-channel WAV, spooled to disk.

Fed by the speech pipeline's `tee` (so every audio line — the simulated one, a carrier's media
stream — is recorded the same way). The conductor hands the finished `Recording` to the worker
with the `Outcome`, and the worker streams it into the blob store (engine/blobs) off the loop. An
opted-out call gets no recorder at all. A text-only call has no audio, so no recording.

Layout: 16-bit PCM, 8 kHz (the telephone band the line carries), **channel 0 the agent,
channel 1 the callee**. While the call runs each track is kept as G.711 μ-law, one byte a sample
(what the line carries both ways, so nothing the callee heard or said is lost), in a *nameless*
temporary file (`tempfile.TemporaryFile`: unlinked from the start, so a crash leaves nothing
behind — the kernel frees it with the last descriptor); only the newest `SPOOL_BYTES` of each
track stay in memory, so a live call's recording costs a fixed ~128 KiB however long it runs
(a minute of a track is 480 KB). A call shorter than that never touches the disk until it ends.
The WAV is never whole in memory either: `Recording.open()` reads it as a stream, built a block
at a time from the two files.

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
import struct
import tempfile
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from callplane.engine.live.speech import audio

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

SAMPLE_RATE = 8000
_BYTES_PER_MS = SAMPLE_RATE // 1000  #: μ-law: a byte a sample
_SILENCE = audio.pcm16_to_mulaw(bytes(2))  #: μ-law's zero is not the byte 0
SPOOL_BYTES = 64 * 1024  #: a track's newest bytes kept in memory (8 s) before they go to its file
_BLOCK = SAMPLE_RATE  #: samples a track per WAV block built (a second: 32 KB of WAV)


class _Track:
    """One side of the line, μ-law: the bytes up to `_spooled` are in a nameless temporary file
    (made when first needed), the rest in `_tail`. The newest bytes are the ones a clear cuts, so
    keeping them in memory makes a barge-in a `del` in the common case."""

    def __init__(self) -> None:
        self._file: BinaryIO | None = None
        self._closer: Callable[[], object] = lambda: None
        self._spooled = 0
        self._tail = bytearray()

    def __len__(self) -> int:
        return self._spooled + len(self._tail)

    def extend(self, data: bytes) -> None:
        self._tail += data
        if len(self._tail) >= SPOOL_BYTES:
            self.spool()

    def pad_to(self, length: int) -> None:
        """Silence up to `length` (in spool-sized pieces: minutes of it must not sit in memory)."""
        while len(self) < length:
            self.extend(_SILENCE * min(SPOOL_BYTES, length - len(self)))

    def truncate(self, length: int) -> None:
        if length >= self._spooled:
            del self._tail[length - self._spooled :]
        else:
            assert self._file is not None
            self._file.truncate(length)
            self._spooled = length
            self._tail.clear()

    def spool(self) -> None:
        """Write the tail to the file (a few KB every 8 s of audio: short enough for the loop, and
        the page cache takes it without waiting for the disk)."""
        if not self._tail:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="callplane-recording-")  # noqa: SIM115 (kept open)
            # A recording dropped without `close` (a call cancelled while it was stored) frees
            # its file when collected, quietly.
            self._closer = weakref.finalize(self, self._file.close)
        self._file.seek(self._spooled)
        self._file.write(self._tail)
        self._file.flush()
        self._spooled += len(self._tail)
        self._tail.clear()

    def blocks(self, size: int) -> Iterator[bytes]:
        """The whole track from the start, `size` bytes at a time (after `spool`)."""
        if self._file is None:
            return
        self._file.seek(0)
        while block := self._file.read(size):
            yield block

    def close(self) -> None:
        self._closer()
        self._file = None
        self._spooled = 0
        self._tail.clear()


@dataclass(frozen=True, slots=True)
class Recording:
    """Both tracks of a finished call. `open()` streams the WAV (blocking reads of the spool
    files: the worker stores it in a thread); `close()` frees the files — also done when the
    recording is garbage-collected, so a dropped one costs nothing on disk."""

    agent: _Track
    callee: _Track
    duration_ms: int

    content_type = "audio/wav"

    @property
    def size(self) -> int:
        """Bytes of the WAV: its 44-byte header and 4 bytes a sample frame."""
        return 44 + self.duration_ms * _BYTES_PER_MS * 4

    def open(self) -> BinaryIO:
        return io.BufferedReader(_Chunks(self._chunks()), buffer_size=_BLOCK * 4)

    def _chunks(self) -> Iterator[bytes]:
        samples = self.duration_ms * _BYTES_PER_MS
        yield _wav_header(samples)
        agent, callee = self.agent.blocks(_BLOCK), self.callee.blocks(_BLOCK)
        for start in range(0, samples, _BLOCK):
            n = min(_BLOCK, samples - start)
            stereo = np.zeros(2 * n, dtype="<i2")  # past a track's end: silence
            for channel, track in enumerate((agent, callee)):
                mulaw = next(track, b"")[:n]
                stereo[channel : 2 * len(mulaw) : 2] = np.frombuffer(audio.mulaw_to_pcm16(mulaw), "<i2")
            yield stereo.tobytes()

    def close(self) -> None:
        self.agent.close()
        self.callee.close()


def _wav_header(samples: int) -> bytes:
    """RIFF/WAVE, PCM16, two channels at 8 kHz, `samples` frames: written up front (the length is
    known), so the file streams out in one pass with no seek back."""
    data = samples * 4
    fmt = struct.pack("<HHIIHH", 1, 2, SAMPLE_RATE, SAMPLE_RATE * 4, 4, 16)
    return (
        struct.pack("<4sI4s4sI", b"RIFF", 36 + data, b"WAVE", b"fmt ", 16)
        + fmt
        + struct.pack("<4sI", b"data", data)
    )


class _Chunks(io.RawIOBase):
    """A readable binary stream over an iterator of byte blocks (what blob stores read)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class Recorder:
    """A `Tee` for the speech pipeline (`recorder.tee`): ("callee" | "agent", PCM16 at 8 kHz,
    Unix ms), and "cleared" when the agent's queued audio was dropped."""

    def __init__(self, max_ms: int) -> None:
        self.max_bytes = max_ms * _BYTES_PER_MS
        self._origin: int | None = None  #: Unix ms of the first frame
        self._callee = _Track()
        self._agent = _Track()

    def tee(self, channel: str, pcm: bytes, at: int) -> None:
        if self._origin is None:
            self._origin = at
        if channel == "callee":
            self._append(self._callee, audio.pcm16_to_mulaw(pcm), 0)
        elif channel == "agent":
            self._append(self._agent, audio.pcm16_to_mulaw(pcm), len(self._callee))
        elif channel == "cleared" and len(self._agent) > len(self._callee):
            self._agent.truncate(len(self._callee))

    def _wall_bytes(self, at: int) -> int:
        assert self._origin is not None
        return max(0, at - self._origin) * _BYTES_PER_MS

    def _append(self, track: _Track, samples: bytes, at_least: int) -> None:
        start = min(max(len(track), at_least), self.max_bytes)
        track.pad_to(start)
        track.extend(samples[: self.max_bytes - start])

    def finish(self, ended_at: int) -> Recording | None:
        """The call's tracks, as long as the line was up; None when no audio ever passed (a text
        line). The recorder keeps nothing afterwards."""
        if self._origin is None:
            return None
        length = min(self.max_bytes, max(len(self._callee), len(self._agent), self._wall_bytes(ended_at)))
        self._agent.spool()
        self._callee.spool()
        recording = Recording(self._agent, self._callee, length // _BYTES_PER_MS)
        self._agent, self._callee = _Track(), _Track()
        return recording
