"""PostgreSQL notifications: sent best effort, heard by a listener that survives losing its connection."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from callplane.store import notify
from callplane.store.db import Database

pytestmark = pytest.mark.postgres


@pytest.fixture
def heard(postgres_db: Database) -> Iterator[queue.Queue[str]]:
    messages: queue.Queue[str] = queue.Queue()
    listener = notify.Listener(postgres_db.url, messages.put)
    listener.start()
    assert listener.listening.wait(5)
    yield messages
    listener.stop()


def test_sent_messages_reach_the_listener_in_order(postgres_db: Database, heard: queue.Queue[str]) -> None:
    notify.send(postgres_db, "end:call-1")
    notify.send(postgres_db, notify.CREATED)
    assert heard.get(timeout=5) == "end:call-1"
    assert heard.get(timeout=5) == notify.CREATED
    assert heard.empty()


def test_sending_never_fails_the_caller(tmp_path: Path) -> None:
    unreachable = Database("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1")
    notify.send(unreachable, notify.CREATED)  # logged, not raised
    unreachable.dispose()
    sqlite = Database(f"sqlite:///{tmp_path / 'x.db'}")
    notify.send(sqlite, notify.CREATED)  # SQLite: nothing to send
    sqlite.dispose()


def test_the_listener_comes_back_after_losing_its_connection(
    postgres_db: Database, heard: queue.Queue[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "RETRY_S", 0.1)
    with postgres_db.write() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'callplane-listen' AND datname = current_database()"
        )
    deadline = time.monotonic() + 10
    while True:  # hints are best effort: send until the reconnected listener hears one
        notify.send(postgres_db, "end:after")
        try:
            assert heard.get(timeout=0.3) == "end:after"
            break
        except queue.Empty:
            assert time.monotonic() < deadline, "the listener did not come back"
