"""A relay is woken by webhook events another process commits on PostgreSQL, not at its poll.

"Another process" is a second `Database` (its own engine and pool): the relay's in-process
wake-up (`outbox.on_events_committed`) hooks the relay's engine only, and its poll is an hour,
so only the NOTIFY can have delivered the event within the test's minute.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from callplane.cli import app
from callplane.engine import relay_wakeup
from callplane.engine.clock import FixedClock, SystemClock
from callplane.engine.jobs.relay import Relay
from callplane.store import notify
from callplane.store.db import Database
from tests.conftest import _truncate
from tests.engine.scripted import create_calls
from tests.engine.services.test_webhooks import FAST, all_delivered, canceled_call, local_webhooks
from tests.factories import make_tenant
from tests.fakes.server import serve_in_thread
from tests.fakes.webhook_receiver import WebhookReceiver


def _listening(db: Database) -> set[int]:
    """The backends LISTENing on callplane's channel in this database."""
    with db.read() as conn:
        rows = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'callplane-listen' AND query = :listen"
            ),
            {"listen": f"LISTEN {notify.CHANNEL}"},
        )
        return set(rows.scalars())


@pytest.mark.postgres
def test_a_relay_delivers_an_event_committed_by_another_process_before_its_poll(
    postgres_db: Database,
) -> None:
    _truncate(postgres_db)
    clock = SystemClock()
    tenant = make_tenant(postgres_db, clock.now_ms())
    writer = Database(postgres_db.url)  # the other process
    relay_wakeup.announce(writer)
    receiver = WebhookReceiver()
    relay = Relay(postgres_db, clock, FAST)
    before = _listening(postgres_db)

    async def main() -> str:
        task = asyncio.create_task(relay.run(idle_s=3600))
        # The event is written once the relay listens (a message sent before is lost, by design).
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(lambda: _listening(postgres_db) - before):
            assert time.monotonic() < deadline and not task.done(), "the relay never listened"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # its first pass looks (and finds nothing) before the event exists
        call_id = await asyncio.to_thread(canceled_call, writer, FixedClock(clock.now_ms()), tenant)
        while not await asyncio.to_thread(all_delivered, postgres_db, tenant, [call_id]):
            assert time.monotonic() < deadline and not task.done(), "not delivered before the poll"
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.aclose()
        return call_id

    try:
        with serve_in_thread(receiver.app) as url:
            local_webhooks(postgres_db, clock.now_ms).add(tenant.organization_id, f"{url}/hooks")
            asyncio.run(main())
    finally:
        writer.dispose()
    assert [r.json()["event"] for r in receiver.accepted()] == ["call_ended"]


def _announcers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "callplane-announce"}


@pytest.mark.postgres
def test_an_announcer_ends_with_its_database(postgres_db: Database) -> None:
    """Announcing on databases that are then dropped (apps made and thrown away) leaves neither
    their engines nor the announcers' threads behind."""
    before = _announcers()
    engines = []
    for _ in range(3):
        other = Database(postgres_db.url)
        relay_wakeup.announce(other)
        engines.append(weakref.ref(other.engine))
        other.dispose()
        del other
    mine = _announcers() - before
    assert len(mine) == 3
    gc.collect()
    assert [e() for e in engines] == [None, None, None], "an announcer kept its database's engine"
    deadline = time.monotonic() + 3 * relay_wakeup._LOOK_S
    while any(t.is_alive() for t in mine):
        assert time.monotonic() < deadline, "an announcer's thread outlived its database"
        time.sleep(0.1)


@pytest.mark.postgres
def test_a_cli_command_that_commits_events_announces_them(postgres_db: Database) -> None:
    """`callplane calls cancel` (a short-lived process) tells listening relays, as the API does."""
    _truncate(postgres_db)
    clock = SystemClock()
    tenant = make_tenant(postgres_db, clock.now_ms())
    local_webhooks(postgres_db, clock.now_ms).add(tenant.organization_id, "http://127.0.0.1:9/hooks")
    [call_id] = create_calls(postgres_db, FixedClock(clock.now_ms()), tenant, 1)
    heard: list[str] = []
    listener = notify.Listener(postgres_db.url, heard.append)
    listener.start()
    try:
        assert listener.listening.wait(30)
        args = [
            "--database-url",
            postgres_db.url,
            "calls",
            "cancel",
            call_id,
            "--org",
            tenant.organization_id,
        ]
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 10
        while relay_wakeup.EVENTS not in heard:
            assert time.monotonic() < deadline, f"no announcement: {heard}"
            time.sleep(0.05)
    finally:
        listener.stop()
