"""The player's waveform: peaks from the stored WAV (the recorder's own file), cached per
recording, served as an SVG fragment to the call's own organisation only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.engine.blobs import MemoryBlobs
from callplane.engine.clock import FixedClock
from callplane.engine.live.recorder import Recording
from callplane.store.db import Database
from callplane.web.waveform import BARS, SCALE, Waveforms, peaks
from tests.factories import Tenant
from tests.web.conftest import a_call, insert, recording_wav, sign_in


def two_turns() -> bytes:
    """Four seconds: the agent speaks the first two, the callee the last two."""
    return recording_wav(4000, agent=[(0, 2000)], callee=[(2000, 4000)])


def test_peaks_show_who_spoke_when() -> None:
    wave = peaks(two_turns())
    assert wave is not None and wave.duration_ms == 4000
    assert len(wave.agent) == len(wave.callee) == BARS
    half = BARS // 2
    assert min(wave.agent[: half - 1]) > SCALE * 0.9 and max(wave.agent[half + 1 :]) == 0
    assert max(wave.callee[: half - 1]) == 0 and min(wave.callee[half + 1 :]) > SCALE * 0.9


def test_what_is_not_a_pcm_wav_has_no_waveform() -> None:
    assert peaks(b"RIFF....WAVEfmt recorded") is None
    assert peaks(b"") is None
    empty = peaks(Recording(bytearray(), bytearray(), 0).wav())
    assert empty is not None and empty.duration_ms == 0 and set(empty.agent) == {0}


class CountingBlobs(MemoryBlobs):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def get(self, key: str) -> bytes | None:
        self.reads.append(key)
        return super().get(key)


def test_a_recording_is_read_once_and_the_cache_is_bounded() -> None:
    blobs = CountingBlobs()
    for key in ("o/a.wav", "o/b.wav", "o/c.wav"):
        blobs.put(key, two_turns(), "audio/wav")
    waveforms = Waveforms(blobs, size=2)
    first = waveforms.of("o/a.wav")
    assert first is not None and waveforms.of("o/a.wav") is first
    assert blobs.reads == ["o/a.wav"]
    waveforms.of("o/b.wav")
    waveforms.of("o/c.wav")  # a, the least recently used, goes
    waveforms.of("o/a.wav")
    assert blobs.reads == ["o/a.wav", "o/b.wav", "o/c.wav", "o/a.wav"]
    # A blob not (yet) there is not remembered as missing.
    assert waveforms.of("o/later.wav") is None
    blobs.put("o/later.wav", two_turns(), "audio/wav")
    assert waveforms.of("o/later.wav") is not None


@pytest.fixture
def recorded_web(db: Database, clock: FixedClock) -> Iterator[tuple[TestClient, MemoryBlobs]]:
    blobs = MemoryBlobs()
    app = create_app(Settings(database_url=db.url), db=db, clock=clock, blobs=blobs)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, blobs


def test_the_call_page_loads_its_waveform(
    recorded_web: tuple[TestClient, MemoryBlobs], db: Database, tenant: Tenant, other: Tenant
) -> None:
    web, blobs = recorded_web
    call = a_call(tenant, recording_key=f"{tenant.organization_id}/rec.wav")
    opted_out = a_call(
        tenant, recording_key=f"{tenant.organization_id}/out.wav", opt_out_sensitive_data_storage=True
    )
    theirs = a_call(other, recording_key=f"{other.organization_id}/theirs.wav")
    for c in (call, opted_out, theirs):
        assert c.recording_key is not None
        blobs.put(c.recording_key, two_turns(), "audio/wav")
    insert(db, call, opted_out, theirs)
    sign_in(web, tenant.api_key)
    page = web.get(f"/dashboard/calls/{call.id}").text
    assert f'hx-get="/dashboard/calls/{call.id}/waveform"' in page
    svg = web.get(f"/dashboard/calls/{call.id}/waveform", headers={"HX-Request": "true"}).text
    assert svg.count('class="agent"') == svg.count('class="callee"') == BARS
    assert 'data-duration-ms="4000"' in svg and 'id="playhead"' in svg
    nothing = web.get(f"/dashboard/calls/{opted_out.id}/waveform").text
    assert "<svg" not in nothing
    assert web.get(f"/dashboard/calls/{theirs.id}/waveform").status_code == 404
