"""PostgreSQL notifications reach a listener once the transaction that sent them commits."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

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


def test_a_message_arrives_at_commit_and_never_for_a_rollback(
    postgres_db: Database, heard: queue.Queue[str]
) -> None:
    with pytest.raises(RuntimeError), postgres_db.write() as conn:
        notify.notify(conn, "end:rolled-back")
        raise RuntimeError("abort")
    with postgres_db.write() as conn:
        notify.notify(conn, "end:call-1")
        time.sleep(0.3)
        assert heard.empty()  # not before the commit
    assert heard.get(timeout=5) == "end:call-1"
    with postgres_db.write() as conn:
        notify.notify(conn, notify.CREATED)
    assert heard.get(timeout=5) == notify.CREATED
    assert heard.empty()


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
        with postgres_db.write() as conn:
            notify.notify(conn, "end:after")
        try:
            assert heard.get(timeout=0.3) == "end:after"
            break
        except queue.Empty:
            assert time.monotonic() < deadline, "the listener did not come back"
