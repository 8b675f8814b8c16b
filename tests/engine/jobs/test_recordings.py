"""Recordings through the worker: the README demo call on the simulated audio line (scripted
engines, virtual time, real-time pacing) ends with a two-channel WAV as long as the call, stored
by the worker and downloadable through the call's `recording_url`; an opted-out call leaves no
file anywhere; retention purges."""

from __future__ import annotations

import functools
import io
import itertools
import time
import wave
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from callplane.api.app import create_app
from callplane.cli.demo import demo_agent_file
from callplane.config import Settings
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.engine.blobs import BlobConfig
from callplane.engine.blobs.local import LocalBlobs
from callplane.engine.clock import FixedClock, LoopClock, SystemClock, run_virtual
from callplane.engine.jobs.relay import Relay
from callplane.engine.jobs.worker import Worker, WorkerConfig
from callplane.engine.live.conductor import build_conductor
from callplane.engine.services import recordings
from callplane.engine.services.cursors import Cursors
from callplane.engine.services.recordings import Recordings
from callplane.store import calls as call_store
from callplane.store.db import Database
from callplane.store.schema import calls, webhook_events
from tests.engine.jobs.test_worker import CONFIG, load, settled
from tests.engine.scripted import create_calls, run_until
from tests.engine.services.test_webhooks import FAST, local_webhooks, receiver, receiver_url, relay_run
from tests.factories import Tenant, make_tenant
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.test_serve import SEED_001, start_server

__all__ = ["receiver", "receiver_url"]  # fixtures shared with test_webhooks.py

AUDIO = Settings(
    simulator_audio=True,
    simulator_speed=1,
    speech_synthesizer="scripted",
    speech_transcriber="scripted",
    speech_vad="energy",
)


def _run(
    db: Database,
    folder: Path,
    settings: Settings,
    config: WorkerConfig = CONFIG,
    until: Callable[[Call], bool] = lambda call: True,
    setup: Callable[[Tenant], object] = lambda tenant: None,
    **call: object,
) -> Call:
    """One call of the demo agent through a worker that keeps recordings in `folder`; the worker
    runs until the call is settled and `until(call)`. `setup` prepares the tenant first."""
    tenant = make_tenant(db, 0, agent=demo_agent_file())
    setup(tenant)

    def done(call_id: str) -> bool:
        return settled(db, tenant, [call_id]) and until(load(db, tenant, [call_id])[0])

    async def main() -> str:
        clock = LoopClock()
        blobs = LocalBlobs(BlobConfig(folder))
        worker = Worker(db, build_conductor(settings, clock), clock=clock, config=config, blobs=blobs)
        [call_id] = create_calls(db, clock, tenant, 1, **call)
        await run_until(worker, lambda: done(call_id), limit_s=7200)
        return call_id

    [found] = load(db, tenant, [run_virtual(main())])
    return found


def test_the_demo_call_in_audio_is_recorded_as_long_as_it_lasted(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    call = _run(db, folder, AUDIO)
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    assert call.recording_key == f"{call.organization_id}/{call.id}.wav"
    assert call.answered_at is not None and call.end_at is not None
    talk_ms = call.end_at - call.answered_at
    assert talk_ms > 3000  # a greeting, an answer and a goodbye

    # Through the API, as a client would: the link, then the file, without the API key.
    with TestClient(
        create_app(Settings(database_url=db.url, recordings_dir=folder), db=db, clock=FixedClock(call.end_at))
    ) as client:
        url = _recording_url(client, db, call)
        wav_bytes = client.get(url).content
    assert list(folder.rglob("*")) == [folder / call.organization_id, folder / call.recording_key]
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        duration_ms = wav.getnframes() * 1000 // wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    # The line opens at the answer and closes at the hang-up: one 20 ms frame of slack each way.
    assert abs(duration_ms - talk_ms) <= 60, (duration_ms, talk_ms)
    agent, callee = samples[0::2], samples[1::2]
    assert np.abs(agent).max() > 1000 and np.abs(callee).max() > 1000  # both sides spoke
    # The agent greets first: the callee's channel is quiet while the greeting plays.
    greeting = next(e for e in call.transcript or [] if e["role"] == "agent")
    quiet_until = (greeting["end_at"] - call.answered_at) * 8
    assert np.abs(callee[: quiet_until - 800]).max() == 0
    assert np.abs(agent[:quiet_until]).max() > 1000


def _recording_url(client: TestClient, db: Database, call: Call) -> str:
    from callplane.engine.services.admin import Admin

    key = Admin(db, lambda: 0).issue_key(call.organization_id, "reader")
    body = client.get(f"/v3/calls/{call.id}", headers={"Authorization": f"Bearer {key.key}"}).json()
    url: str = body["recording_url"]
    assert url.startswith("http://testserver/recordings/")
    return url


def test_an_opted_out_call_records_nothing_anywhere(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    call = _run(db, folder, AUDIO, opt_out_sensitive_data_storage=True)
    assert call.status is CallStatus.ENDED and call.recording_key is None
    assert not folder.exists()
    # Nor beside the database, nor in a temporary folder the recorder might have used.
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".wav", ".part")]


def test_a_text_call_has_no_recording(db: Database, tmp_path: Path) -> None:
    call = _run(db, tmp_path / "recordings", Settings(simulator_speed=1))
    assert call.status is CallStatus.ENDED and call.recording_key is None
    assert not (tmp_path / "recordings").exists()


def test_retention_deletes_the_file_and_the_link(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    call = _run(db, folder, AUDIO)
    assert call.recording_key is not None and call.end_at is not None
    blobs = LocalBlobs(BlobConfig(folder))
    assert recordings.purge(db, blobs, before=call.end_at) == 0  # not older than the cut-off
    assert blobs.get(call.recording_key) is not None
    assert recordings.purge(db, blobs, before=call.end_at + 1) == 1
    assert blobs.get(call.recording_key) is None
    with db.read() as conn:
        after = call_store.get_call(conn, call.organization_id, call.id)
    assert after is not None and after.recording_key is None and after.transcript


def test_the_worker_purges_recordings_past_retention(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    config = replace(CONFIG, recordings_retention_s=60, retention_interval_s=30)
    stored: set[str] = set()

    def purged(call: Call) -> bool:
        if call.recording_key is not None:
            stored.add(call.recording_key)
        return call.recording_key is None

    call = _run(db, folder, AUDIO, config, until=purged)
    assert stored == {f"{call.organization_id}/{call.id}.wav"}  # it was stored, then purged
    assert not (folder / stored.pop()).exists()


@pytest.mark.slow
def test_the_readme_demo_call_on_offline_engines_downloads_a_recording(tmp_path: Path) -> None:
    """`callplane serve` as a user runs it, with CALLPLANE_SIMULATOR_AUDIO=true and no speech
    endpoint: espeak-ng and PocketSphinx on both sides, at real-time pacing so the recording's
    length can be held against the call's."""
    env = {
        "CALLPLANE_BOOTSTRAP_API_KEY": "cp_scripted_demo_key_0001",
        "CALLPLANE_SIMULATOR_AUDIO": "true",
        "CALLPLANE_SIMULATOR_SPEED": "1",
    }
    server = start_server(tmp_path, env)
    # Generous timeouts: real-time audio on a loaded two-core machine answers slowly.
    http = httpx.Client(timeout=60)
    try:
        headers = {"Authorization": "Bearer cp_scripted_demo_key_0001"}
        created = http.post(f"{server.base_url}/v3/calls", json=SEED_001, headers=headers)
        assert created.status_code == 201, created.text
        call_id = created.json()["id"]
        deadline = time.monotonic() + 600
        while True:
            call = http.get(f"{server.base_url}/v3/calls/{call_id}", headers=headers).json()
            if call["status"] not in ("queued", "ongoing"):
                break
            assert time.monotonic() < deadline, call
            time.sleep(0.5)
        assert call["status"] == "ended", call
        url = call["recording_url"]
        assert url.startswith(f"{server.base_url}/recordings/")
        download = http.get(url)  # no API key
    finally:
        http.close()
        server.stop()
    assert download.status_code == 200 and download.headers["content-type"] == "audio/wav"
    db = Database(f"sqlite:///{tmp_path / 'demo.db'}")
    with db.read() as conn:
        org = conn.execute(select(calls.c.organization_id).where(calls.c.id == call_id)).scalar_one()
        stored = call_store.get_call(conn, org, call_id)
    db.dispose()
    assert stored is not None and stored.answered_at is not None and stored.end_at is not None
    assert list((tmp_path / "recordings").rglob("*.wav")) == [
        tmp_path / "recordings" / str(stored.recording_key)
    ]
    with wave.open(io.BytesIO(download.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        duration_ms = wav.getnframes() * 1000 // wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    talk_ms = stored.end_at - stored.answered_at
    assert abs(duration_ms - talk_ms) <= 1000, (duration_ms, talk_ms)
    assert np.abs(samples[0::2]).max() > 1000 and np.abs(samples[1::2]).max() > 1000


def test_a_delivered_call_ended_webhook_links_the_recording_fresh_at_each_attempt(
    db: Database, tmp_path: Path, receiver: WebhookReceiver, receiver_url: str
) -> None:
    """The stored event holds no link (it would expire while retries go on); every attempt of a
    Vox and a Retell endpoint carries a link of its own, and it downloads the WAV without a key."""
    folder = tmp_path / "recordings"
    secrets: dict[str, str] = {}

    def endpoints(tenant: Tenant) -> None:
        admin = local_webhooks(db, SystemClock().now_ms)
        for fmt in ("vox", "retell"):
            added = admin.add(
                tenant.organization_id, f"{receiver_url}/{fmt}", events=["call_ended"], format=fmt
            )
            secrets[fmt] = added.secret

    call = _run(db, folder, AUDIO, setup=endpoints)
    assert call.recording_key is not None
    with db.read() as conn:
        stored = conn.execute(select(webhook_events.c.body)).scalars().all()
    assert len(stored) == 2 and all("/recordings/" not in body for body in stored)

    settings = Settings(database_url=db.url, recordings_dir=folder, public_url="http://testserver")
    ticks = itertools.count(SystemClock().now_ms(), 1000)  # each link minted a second later
    links = Recordings.from_settings(settings, db, Cursors(db, lambda: 0), lambda: next(ticks))
    relay = Relay(db, SystemClock(), FAST, links=functools.partial(links.fill_links, "http://testserver"))
    receiver.fail_first = 1  # the first attempt of each is refused: each is sent twice
    deadline = time.monotonic() + 30
    while len(receiver.accepted()) < 2:
        assert time.monotonic() < deadline, receiver.received
        relay_run(relay)
        time.sleep(0.06)

    by_format = {fmt: [r for r in receiver.received if r.path == f"/{fmt}"] for fmt in secrets}
    assert {fmt: len(got) for fmt, got in by_format.items()} == {"vox": 2, "retell": 2}
    Webhook(secrets["vox"]).verify(by_format["vox"][1].body, by_format["vox"][1].headers)
    urls = [r.json()["call"]["recording_url"] for got in by_format.values() for r in got]
    assert len(set(urls)) == 4 and all(u.startswith("http://testserver/recordings/") for u in urls)
    with TestClient(create_app(settings, db=db)) as client:  # no API key
        downloads = [client.get(url) for url in urls]
    assert [d.status_code for d in downloads] == [200] * 4
    assert {d.content for d in downloads} == {(folder / call.recording_key).read_bytes()}
    assert downloads[0].content.startswith(b"RIFF")
