"""Recording links: minted when a call is rendered, fetchable without the API key until they
expire, never a way into another organisation's calls; Vocode's recording endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.engine.blobs import MemoryBlobs
from callplane.engine.clock import FixedClock, SystemClock
from callplane.store.db import Database
from tests.factories import Tenant, make_tenant
from tests.sdk.kit import Shape, insert_every_shape

WAV = b"RIFF....WAVEfmt recorded"
HOUR_MS = 3_600_000


@dataclass
class Setup:
    client: TestClient
    clock: FixedClock
    blobs: MemoryBlobs
    recorded: Call  #: an ended call with a recording
    unrecorded: Call  #: an ended call without


def _app(db: Database, clock: FixedClock, blobs: MemoryBlobs, **settings: object) -> TestClient:
    config = Settings(database_url=db.url, recordings_url_ttl_s=3600, **settings)  # type: ignore[arg-type]
    return TestClient(create_app(config, db=db, clock=clock, blobs=blobs))


@pytest.fixture
def setup(db: Database, tenant: Tenant) -> Iterator[Setup]:
    made = insert_every_shape(db, tenant)
    recorded = made[Shape(CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)]
    unrecorded = made[Shape(CallStatus.NOT_CONNECTED, DisconnectionReason.DIAL_BUSY)]
    assert recorded.recording_key is not None and unrecorded.recording_key is None
    blobs = MemoryBlobs()
    blobs.put(recorded.recording_key, WAV, "audio/wav")
    clock = FixedClock(SystemClock().now_ms())
    with _app(db, clock, blobs) as client:
        yield Setup(client, clock, blobs, recorded, unrecorded)


def _url(s: Setup, tenant: Tenant, call: Call) -> str | None:
    body = s.client.get(f"/v3/calls/{call.id}", headers=tenant.headers).json()
    url: str | None = body["recording_url"]
    return url


def test_the_url_downloads_the_wav_without_the_api_key(setup: Setup, tenant: Tenant) -> None:
    url = _url(setup, tenant, setup.recorded)
    assert url is not None and url.startswith("http://testserver/recordings/") and url.endswith(".wav")
    response = setup.client.get(url)  # no Authorization header
    assert response.status_code == 200
    assert response.content == WAV and response.headers["content-type"] == "audio/wav"
    assert _url(setup, tenant, setup.unrecorded) is None


def test_the_url_expires(setup: Setup, tenant: Tenant) -> None:
    url = _url(setup, tenant, setup.recorded)
    assert url is not None
    setup.clock.advance(HOUR_MS - 1000)
    assert setup.client.get(url).status_code == 200
    setup.clock.advance(2000)
    expired = setup.client.get(url)
    assert expired.status_code == 404 and expired.content != WAV


def test_forged_or_foreign_tokens_are_404(setup: Setup, tenant: Tenant, db: Database) -> None:
    url = _url(setup, tenant, setup.recorded)
    assert url is not None
    token = url.removeprefix("http://testserver/recordings/").removesuffix(".wav")
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    recordings = setup.client.app.state.services.recordings  # type: ignore[attr-defined]
    other = make_tenant(db, 0, "other org")
    far = setup.clock.now_ms() + HOUR_MS
    for bad in (
        flipped,
        "nonsense",
        # Signed by this deployment, but for the same call id under another organisation.
        recordings.token(other.organization_id, setup.recorded.id, far),
        # Another organisation's token cannot be stretched to this call: the call is not its.
        recordings.token(other.organization_id, setup.unrecorded.id, far),
    ):
        response = setup.client.get(f"/recordings/{bad}.wav")
        assert response.status_code == 404 and response.json() == {"detail": "Not Found"}, bad
    # A token only this deployment could sign: another secret's links do not open ours.
    with _app(db, setup.clock, setup.blobs, cursor_secret="another deployment secret") as elsewhere:
        assert elsewhere.get(f"/recordings/{token}.wav").status_code == 404
        assert setup.client.get(f"/recordings/{token}.wav").status_code == 200


def test_byte_ranges_are_206_so_a_player_can_seek(setup: Setup, tenant: Tenant) -> None:
    url = _url(setup, tenant, setup.recorded)
    assert url is not None
    whole = setup.client.get(url)
    assert whole.headers["accept-ranges"] == "bytes" and "content-range" not in whole.headers
    n = len(WAV)
    for asked, first, last in (
        ("bytes=0-3", 0, 3),
        ("bytes=4-", 4, n - 1),
        ("bytes=-5", n - 5, n - 1),
        ("bytes=8-9999", 8, n - 1),  # past the end: up to the end
        ("bytes=-9999", 0, n - 1),
    ):
        part = setup.client.get(url, headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part.content == WAV[first : last + 1], asked
        assert part.headers["content-range"] == f"bytes {first}-{last}/{n}", asked
        assert part.headers["content-type"] == "audio/wav"
    beyond = setup.client.get(url, headers={"Range": f"bytes={n}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{n}"
    assert not beyond.content
    # Ranges we do not serve one by one, or that mean nothing: the whole file.
    for ignored in ("bytes=0-1,4-5", "bytes=5-2", "items=0-1", "bytes=-"):
        answer = setup.client.get(url, headers={"Range": ignored})
        assert (answer.status_code, answer.content) == (200, WAV), ignored
    # A range does not open a forged link.
    assert setup.client.get("/recordings/nonsense.wav", headers={"Range": "bytes=0-1"}).status_code == 404


def test_every_dialect_renders_the_link(setup: Setup, tenant: Tenant) -> None:
    c, call = setup.client, setup.recorded
    pair = {"X-API-KEY": tenant.key_id, "X-API-SECRET": tenant.key_secret}
    found = {
        "vox v3": c.get(f"/v3/calls/{call.id}", headers=tenant.headers).json()["recording_url"],
        "vox v2": c.get(f"/v2/calls/{call.id}", headers=tenant.headers).json()["recording_url"],
        "retell": c.get(f"/v2/get-call/{call.id}", headers=tenant.headers).json()["recording_url"],
        "zudu": c.get(f"/api/calls/{call.id}", headers=pair).json()["data"]["recording_url"],
    }
    for dialect, url in found.items():
        assert url is not None, dialect
        assert c.get(url).content == WAV, dialect
    listed = c.get("/v3/calls", params={"limit": 100}, headers=tenant.headers).json()["items"]
    assert [i["recording_url"] is not None for i in listed if i["id"] == call.id] == [True]
    legacy = c.post("/v2/list-calls", json={"limit": 100}, headers=tenant.headers).json()
    assert [i["recording_url"] is not None for i in legacy if i["call_id"] == call.id] == [True]


def test_the_public_url_setting_is_the_links_base(db: Database, setup: Setup, tenant: Tenant) -> None:
    with _app(db, setup.clock, setup.blobs, public_url="https://calls.example.com/") as client:
        body = client.get(f"/v3/calls/{setup.recorded.id}", headers=tenant.headers).json()
    assert body["recording_url"].startswith("https://calls.example.com/recordings/")


def test_opted_out_calls_have_no_link(db: Database, tenant: Tenant) -> None:
    made = insert_every_shape(db, tenant, opt_out=True)
    call = made[Shape(CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)]
    with _app(db, FixedClock(SystemClock().now_ms()), MemoryBlobs()) as client:
        assert client.get(f"/v3/calls/{call.id}", headers=tenant.headers).json()["recording_url"] is None
        vocode = client.get("/v1/calls", params={"id": call.id}, headers=tenant.headers).json()
        assert vocode["recording_available"] is False
        assert (
            client.get("/v1/calls/recording", params={"id": call.id}, headers=tenant.headers).status_code
            == 404
        )


def test_vocode_recording_available_and_its_endpoint(setup: Setup, tenant: Tenant, db: Database) -> None:
    c = setup.client
    get = c.get("/v1/calls", params={"id": setup.recorded.id}, headers=tenant.headers).json()
    assert get["recording_available"] is True
    response = c.get("/v1/calls/recording", params={"id": setup.recorded.id}, headers=tenant.headers)
    assert response.status_code == 200 and response.content == WAV
    assert response.headers["content-type"] == "audio/wav"
    none = c.get("/v1/calls/recording", params={"id": setup.unrecorded.id}, headers=tenant.headers)
    assert none.status_code == 404 and "detail" in none.json()
    assert c.get("/v1/calls/recording", params={"id": setup.recorded.id}).status_code == 401
    other = make_tenant(db, 0, "other org")
    foreign = c.get("/v1/calls/recording", params={"id": setup.recorded.id}, headers=other.headers)
    assert foreign.status_code == 404
