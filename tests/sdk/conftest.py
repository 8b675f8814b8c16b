"""A real callplane server on 127.0.0.1 for the vendors' official SDKs to talk to.

uvicorn serves the real app (the same `create_app` `callplane serve` uses) from a background
thread on a free port, over the parametrized `db` fixture, so each SDK test runs against
SQLite and PostgreSQL through a real socket.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.store.db import Database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    recordings: Path  #: the server's recordings folder (the local blob store)


@pytest.fixture
def live_server(db: Database, tmp_path: Path) -> Iterator[LiveServer]:
    port = free_port()
    recordings = tmp_path / "recordings"
    app = create_app(Settings(database_url=db.url, recordings_dir=recordings), db=db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="callplane-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", recordings)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
