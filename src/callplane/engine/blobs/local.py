"""Blobs as files in one folder (the default store)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from callplane.engine.blobs import COPY_BYTES, Blob, BlobConfig, check_key


class LocalBlobs:
    def __init__(self, config: BlobConfig) -> None:
        self.root = config.directory

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: Blob, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A temporary file in the same folder, renamed into place: readers see the old blob or
        # the whole new one, and a failed write (full disk, a crash) removes what it wrote.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, COPY_BYTES)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()
