"""Memory and time of one call's recording (engine/live/recorder.py), by hand, not in tests.

Feeds a recorder what a ten-minute call sends it — a callee frame every 20 ms, the agent
speaking a third of the time — and reports the peak memory while the call runs (the tracks spool
to nameless temporary files: only their newest bytes are in memory), the time the tee takes per
frame (on the loop), and the time, size and peak memory of streaming the WAV into a local blob
store afterwards (what the worker does in its thread). tracemalloc slows every allocation: times
are upper bounds.

    python -m bench.recorder_memory [minutes]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from callplane.engine.blobs import BlobConfig
from callplane.engine.blobs.local import LocalBlobs
from callplane.engine.live.recorder import Recorder
from callplane.engine.services import recordings

T0 = 1_767_225_600_000


def main(minutes: float) -> None:
    frames = int(minutes * 60 * 50)
    rng = np.random.default_rng(1)
    pcm = [rng.integers(-8000, 8000, 160, dtype=np.int16).tobytes() for _ in range(64)]
    tracemalloc.start()
    recorder = Recorder(max_ms=int(minutes * 60_000) + 60_000)
    started = time.perf_counter()
    for i in range(frames):
        recorder.tee("callee", pcm[i % 64], T0 + 20 * i)
        if i % 3 == 0:
            recorder.tee("agent", pcm[(i + 7) % 64], T0 + 20 * i)
    tee_s = time.perf_counter() - started
    _, peak_live = tracemalloc.get_traced_memory()
    recording = recorder.finish(T0 + frames * 20)
    assert recording is not None
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    with tempfile.TemporaryDirectory() as folder:
        blobs = LocalBlobs(BlobConfig(directory=Path(folder)))
        started = time.perf_counter()
        key = recordings.store(blobs, "org", "call", recording)
        wav_s = time.perf_counter() - started
        _, peak_store = tracemalloc.get_traced_memory()
        size = (Path(folder) / key).stat().st_size
    tracemalloc.stop()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"{minutes:g}-minute call; uptime: {uptime}")
    print(f"  during the call: peak {peak_live / 2**20:.2f} MiB traced (both tracks, spooled)")
    print(f"  tee: {tee_s / (frames * 4 / 3) * 1e6:.1f} µs a frame on average")
    stored = f"{size / 2**20:.1f} MiB streamed into a local store in {wav_s * 1000:.0f} ms"
    print(f"  WAV: {stored}; peak {(peak_store - base) / 2**20:.2f} MiB while storing it (worker thread)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)
