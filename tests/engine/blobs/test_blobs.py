"""Blob stores: the local folder, the in-memory one, and S3 against moto's S3 server on loopback."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callplane.config import Settings
from callplane.engine import blobs
from callplane.engine.blobs import BLOB_STORES, BlobConfig, BlobStore, MemoryBlobs, default_directory
from callplane.engine.blobs.local import LocalBlobs


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _s3(endpoint: str, bucket: str, prefix: str = "") -> BlobStore:
    config = BlobConfig(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="test",
        secret_access_key="test",
    )
    store = BLOB_STORES.create("s3", config)
    store.client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    return store


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "s3":
        return _s3(request.getfixturevalue("s3_endpoint"), f"rec-{os.getpid()}-{id(request)}")
    return BLOB_STORES.create(request.param, BlobConfig(directory=tmp_path / "recordings"))


def test_put_get_delete(store: BlobStore) -> None:
    assert store.get("org/a.wav") is None
    store.put("org/a.wav", b"RIFF1", "audio/wav")
    store.put("org/a.wav", b"RIFF2", "audio/wav")  # replaced whole
    assert store.get("org/a.wav") == b"RIFF2"
    store.delete("org/a.wav")
    store.delete("org/a.wav")  # deleting nothing is fine
    assert store.get("org/a.wav") is None


class _Trickle(io.RawIOBase):
    """A raw stream that hands out at most 64 KiB a read and cannot seek — a recording's WAV
    built block by block; blob stores get it buffered, as they get the recording's."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), 65536, len(self._data))
        view[:n], self._data = self._data[:n], self._data[n:]
        return n


def test_put_streams(store: BlobStore) -> None:
    """9 MiB read piece by piece: in S3 that is a multipart upload (two parts of it)."""
    data = bytes(range(256)) * (9 * 4096)
    store.put("org/long.wav", io.BufferedReader(_Trickle(data)), "audio/wav")
    assert store.get("org/long.wav") == data


@pytest.mark.parametrize("key", ["../escape.wav", "/abs.wav", "org/../../x", "", "org//x", "a\\b"])
def test_keys_cannot_leave_the_store(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="not a blob key"):
        store.put(key, b"x", "audio/wav")


def test_local_writes_leave_no_temporary_files_even_when_a_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobs(BlobConfig(directory=tmp_path))
    store.put("org/a.wav", b"x" * 10_000, "audio/wav")

    def full_disk(fd: int) -> None:  # where a full disk shows up: the data reaching the device
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        store.put("org/b.wav", b"y" * 10_000, "audio/wav")
    with pytest.raises(OSError, match="No space"):
        store.put("org/a.wav", b"z" * 10_000, "audio/wav")
    assert sorted(p.name for p in (tmp_path / "org").iterdir()) == ["a.wav"]
    assert store.get("org/a.wav") == b"x" * 10_000  # the old blob, whole


def test_concurrent_writers_of_one_key_leave_one_whole_blob(tmp_path: Path) -> None:
    store = LocalBlobs(BlobConfig(directory=tmp_path))
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    threads = [threading.Thread(target=store.put, args=("o/k.wav", p, "audio/wav")) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("o/k.wav") in payloads
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["k.wav"]


def test_s3_keys_carry_the_prefix(s3_endpoint: str) -> None:
    store = _s3(s3_endpoint, "prefixed", prefix="callplane/")
    store.put("org/a.wav", b"RIFF", "audio/wav")
    listed = store.client.list_objects_v2(Bucket="prefixed")  # type: ignore[attr-defined]
    assert [o["Key"] for o in listed["Contents"]] == ["callplane/org/a.wav"]
    head = store.client.head_object(Bucket="prefixed", Key="callplane/org/a.wav")  # type: ignore[attr-defined]
    assert head["ContentType"] == "audio/wav"


def test_settings_choose_the_store_and_the_default_folder(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/data/callplane.db")
    store = blobs.from_settings(settings)
    assert isinstance(store, LocalBlobs) and store.root == tmp_path / "data" / "recordings"
    assert default_directory("postgresql://u@h/db") == Path("recordings")
    assert isinstance(blobs.from_settings(Settings(recordings_store="memory")), MemoryBlobs)
    with pytest.raises(ValueError, match="BUCKET"):
        blobs.from_settings(Settings(recordings_store="s3"))
