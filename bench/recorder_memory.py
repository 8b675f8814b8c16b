"""Memory and time of one call's recording (engine/live/recorder.py), by hand, not in tests.

Feeds a recorder what a ten-minute call sends it — a callee frame every 20 ms, the agent
speaking a third of the time — and reports the peak memory while the call runs (the tracks),
the time the tee takes per frame (on the loop), and the time and size of the WAV the worker
builds afterwards (in its thread). tracemalloc slows every allocation: times are upper bounds.

    python -m bench.recorder_memory [minutes]
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc

import numpy as np

from callplane.engine.live.recorder import Recorder

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
    started = time.perf_counter()
    wav = recording.wav()
    wav_s = time.perf_counter() - started
    _, peak_all = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    load = os.getloadavg()
    print(f"{minutes:g}-minute call, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"  during the call: peak {peak_live / 2**20:.1f} MiB traced (both tracks, μ-law)")
    print(f"  tee: {tee_s / (frames * 4 / 3) * 1e6:.1f} µs a frame on average")
    built = f"{len(wav) / 2**20:.1f} MiB built in {wav_s * 1000:.0f} ms"
    print(f"  WAV: {built}; peak {peak_all / 2**20:.1f} MiB while building it (worker thread)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)
