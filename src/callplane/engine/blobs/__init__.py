"""Blob stores: where recordings (and any other large bytes) are kept, chosen by name.

A `BlobStore` is a narrow, synchronous protocol — put, get, delete by key — because its callers
(the worker storing a recording, the recording route, the purge) already run it in a thread:
nothing here runs on an event loop. `put` takes bytes or a readable binary stream, which every
store copies a piece at a time (a recording is streamed out of its spool files: a long call's
WAV is never whole in memory). Implementations (`BLOB_STORES`):

- `local`: a folder (`CALLPLANE_RECORDINGS_DIR`); writes go to a temporary file in the same
  folder and are renamed into place, so a reader never sees half a file and a failed write
  leaves nothing behind;
- `memory`: a dict, for tests;
- `s3`: S3-compatible object storage through boto3 (the `s3` extra).

Keys are `/`-separated relative paths (`{organization_id}/{call_id}.wav`); a key that could
leave its store (`..`, an absolute path) is refused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from callplane.config import Settings
from callplane.engine.registry import Registry


class Readable(Protocol):
    """A buffered binary stream: `read(n)` returns `n` bytes unless the stream ends first (what
    boto3's uploads rely on; an `io.BufferedReader` does it)."""

    def read(self, size: int = -1, /) -> bytes: ...


#: What `put` stores: the bytes themselves, or a stream read to its end.
Blob = bytes | Readable

#: How much of a streamed blob a store copies at a time.
COPY_BYTES = 256 * 1024


class BlobStore(Protocol):
    def put(self, key: str, data: Blob, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The blob's bytes, or None when there is no such blob."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; nothing happens when there is none."""
        ...


@dataclass(frozen=True, slots=True)
class BlobConfig:
    """What a store may need to start; each uses the parts it knows."""

    directory: Path = Path("recordings")
    bucket: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobConfig:
        return cls(
            directory=settings.recordings_dir or default_directory(settings.database_url),
            bucket=settings.recordings_s3_bucket,
            prefix=settings.recordings_s3_prefix,
            endpoint_url=settings.recordings_s3_endpoint_url,
            region=settings.recordings_s3_region,
            access_key_id=settings.recordings_s3_access_key_id,
            secret_access_key=settings.recordings_s3_secret_access_key,
        )


def default_directory(database_url: str) -> Path:
    """`recordings/` beside a SQLite file, so a laptop's data stays in one place."""
    scheme, _, path = database_url.partition(":///")
    if scheme.startswith("sqlite") and path and not path.startswith(":memory:"):
        return Path(path).parent / "recordings"
    return Path("recordings")


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise ValueError(f"not a blob key: {key!r}")
    return key


class MemoryBlobs:
    """Blobs in a dict: for tests, and for seeing what a run stored."""

    def __init__(self, config: BlobConfig | None = None) -> None:
        self.blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: Blob, content_type: str) -> None:
        check_key(key)
        blob = data if isinstance(data, bytes) else b"".join(iter(lambda: data.read(COPY_BYTES), b""))
        with self._lock:
            self.blobs[key] = blob

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self.blobs.get(check_key(key))

    def delete(self, key: str) -> None:
        with self._lock:
            self.blobs.pop(check_key(key), None)


_PKG = "callplane.engine.blobs"

BLOB_STORES: Registry[BlobConfig, BlobStore] = Registry(
    "blob store",
    {
        "local": f"{_PKG}.local:LocalBlobs",
        "memory": f"{_PKG}:MemoryBlobs",
        "s3": f"{_PKG}.s3:S3Blobs",
    },
)


def from_settings(settings: Settings) -> BlobStore:
    return BLOB_STORES.create(settings.recordings_store, BlobConfig.from_settings(settings))
