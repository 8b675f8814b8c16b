"""The answer is stored beside the conversation: `answered` returns while its write waits on a
real database lock (another connection holding the call's row on PostgreSQL, the write lock on
SQLite), the conversation goes on meanwhile, and once the lock is let go the call ends `ended`
with its answer stored before its end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from callplane.domain.agent import AgentVersion
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.jobs.worker import Worker
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store.db import Database
from callplane.store.schema import calls
from tests.engine.jobs.test_worker import CONFIG, events, load, settled
from tests.engine.scripted import create_calls, run_until
from tests.factories import Tenant

#: Real seconds the lock is held at most: only a hook that waits for the database (the failure
#: this test exists for) gets that far, and the test then fails instead of hanging.
WATCHDOG_S = 10.0


class RowLock:
    """Another connection holding what the answer's write needs: the call's row (PostgreSQL,
    `SELECT … FOR UPDATE`) or the database's write lock (SQLite, `BEGIN IMMEDIATE`), in a thread
    of its own from `take` until `release`."""

    def __init__(self, db: Database, tenant: Tenant) -> None:
        self.other = Database(db.url, pool_size=1)  # its own connection (and, on SQLite, lock)
        self.tenant = tenant
        self.locked = threading.Event()
        self._release = threading.Event()
        self.held = False
        self.timed_out = False
        self._thread: threading.Thread | None = None

    def _hold(self, call_id: str) -> None:
        with self.other.write() as conn:
            if self.other.is_postgres:
                row = calls.c.organization_id == self.tenant.organization_id, calls.c.id == call_id
                conn.execute(select(calls.c.id).where(*row).with_for_update()).one()
            self.held = True
            self.locked.set()
            self.timed_out = not self._release.wait(WATCHDOG_S)
            self.held = False

    def take(self, call_id: str) -> None:
        self._thread = threading.Thread(target=self._hold, args=(call_id,), name="row-lock")
        self._thread.start()
        assert self.locked.wait(WATCHDOG_S), "the lock was not taken"

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> RowLock:
        return self

    def __exit__(self, *_: object) -> None:
        self._release.set()
        if self._thread is not None:
            self._thread.join()
        self.other.dispose()


def hung_up(call: Call, clock: LoopClock, answered_at: int | None, said: list[Any] | None = None) -> Outcome:
    """The outcome of a call the callee hung up, with the carrier id the conductors report."""
    return Outcome(
        CallStatus.ENDED,
        DisconnectionReason.USER_HANGUP,
        clock.now_ms(),
        answered_at=answered_at,
        telephony_id=f"sim-{call.id[:8]}",
        transcript=said or [],
    )


def started_then_ended(db: Database, tenant: Tenant, call_id: str) -> bool:
    """The answer's event, then the end's (post-call with the end: analysed in the same step)."""
    found = [e["event"] for e in events(db, tenant, call_id)]
    return found == ["call_started", "call_ended", "call_analyzed"]


class TalksWhileTheAnswerIsStored:
    """Answers with the call's row locked by another connection, then takes its next turn (a
    line of the record) and notes what it saw, then lets the lock go and talks on."""

    def __init__(self, db: Database, tenant: Tenant, clock: LoopClock, lock: RowLock) -> None:
        self.db, self.tenant, self.clock, self.lock = db, tenant, clock, lock
        self.answered_at: int | None = None
        #: (lock still held, the call's stored status) as the turn after `answered` was taken.
        self.next_turn: tuple[bool, CallStatus] | None = None

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        await hooks.ringing(f"sim-{call.id[:8]}")
        await asyncio.sleep(1)
        self.lock.take(call.id)
        self.answered_at = self.clock.now_ms()
        await hooks.answered(self.answered_at)
        said: list[dict[str, Any]] = [
            {"role": "agent", "content": "안녕하세요 홍길동님", "start_at": 0, "end_at": 1500}
        ]
        hooks.progress(said, {})
        [stored] = load(self.db, self.tenant, [call.id])  # a read: neither lock stops it
        self.next_turn = (self.lock.held, stored.status)
        self.lock.release()
        await asyncio.sleep(20)
        return hung_up(call, self.clock, self.answered_at, said)


def test_the_conversation_goes_on_while_the_answer_waits_for_a_lock(db: Database, tenant: Tenant) -> None:
    WebhookAdmin(db, lambda: 0).add(tenant.organization_id, "https://receiver.invalid/hooks")

    async def main(lock: RowLock) -> tuple[list[str], TalksWhileTheAnswerIsStored]:
        clock = LoopClock()
        ids = create_calls(db, clock, tenant, 1)
        conductor = TalksWhileTheAnswerIsStored(db, tenant, clock, lock)
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=300)
        return ids, conductor

    with RowLock(db, tenant) as lock:
        ids, conductor = run_virtual(main(lock))
    # The turn after `answered` was taken with the lock held and the answer not stored yet (the
    # call still `ringing`, stored on its own after its fold).
    assert conductor.next_turn == (True, CallStatus.RINGING)
    assert not lock.timed_out
    [call] = load(db, tenant, ids)
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.USER_HANGUP)
    assert call.answered_at == conductor.answered_at
    assert call.cost_minor is not None and call.cost_minor > 0  # billed from the answer
    assert started_then_ended(db, tenant, call.id)


class StoppedWhileTheAnswerIsStored:
    """Answers with the call's row locked, then stops the worker (no grace: the call's task is
    cancelled at once) and lets the lock go only once that cancel reaches the conversation."""

    def __init__(self, clock: LoopClock, lock: RowLock) -> None:
        self.clock, self.lock = clock, lock
        self.worker: Worker | None = None
        self.answered_at: int | None = None
        self.cancelled_while_held: bool | None = None

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        assert self.worker is not None
        self.lock.take(call.id)
        self.answered_at = self.clock.now_ms()
        await hooks.answered(self.answered_at)
        hooks.progress([{"role": "agent", "content": "안녕하세요", "start_at": 0, "end_at": 900}], {})
        self.worker.stop()
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:
            self.cancelled_while_held = self.lock.held
            self.lock.release()
            raise
        raise AssertionError("the stop did not cancel the call")


def test_a_stop_while_the_answer_is_stored_stores_the_answer_then_the_end(
    db: Database, tenant: Tenant
) -> None:
    WebhookAdmin(db, lambda: 0).add(tenant.organization_id, "https://receiver.invalid/hooks")

    async def main(lock: RowLock) -> tuple[list[str], StoppedWhileTheAnswerIsStored]:
        clock = LoopClock()
        ids = create_calls(db, clock, tenant, 1)
        conductor = StoppedWhileTheAnswerIsStored(clock, lock)
        # No grace, no gathering pause: nothing in the stop waits on a timer, which this loop's
        # clock would not reach while the answer's write is blocked (`engine.clock`).
        config = replace(CONFIG, shutdown_grace_s=0, claim_gather_s=0)
        conductor.worker = Worker(db, conductor, clock=clock, config=config)
        await conductor.worker.run()  # returns once the stopped call's outcome is stored
        return ids, conductor

    with RowLock(db, tenant) as lock:
        ids, conductor = run_virtual(main(lock))
    assert conductor.cancelled_while_held is True and not lock.timed_out
    [call] = load(db, tenant, ids)
    assert (call.status, call.disconnection_reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert call.error_detail == "the worker shut down during the call"
    assert call.answered_at == conductor.answered_at
    assert call.transcript and call.transcript[0]["content"] == "안녕하세요"
    assert settled(db, tenant, ids) and call.analysis is not None
    assert started_then_ended(db, tenant, call.id)


@contextlib.contextmanager
def failing_answers(
    db: Database, failed: list[str], error: Callable[[], Exception], times: int | None = None
) -> Iterator[None]:
    """The answer's write (its UPDATE to `ongoing` with the carrier id folded in; the end's own
    answer has none) raises `error()` the first `times` times (None: every time)."""

    def fail(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        # The SET clause only: the row the UPDATE returns names every column.
        assignments = statement.partition(" WHERE ")[0]
        if not assignments.startswith("UPDATE calls SET status=") or "telephony_id" not in assignments:
            return
        values = parameters.values() if isinstance(parameters, dict) else parameters
        status = next(v for v in values if isinstance(v, str) and v in set(CallStatus))
        if status == "ongoing" and (times is None or len(failed) < times):
            failed.append(statement)
            raise error()

    event.listen(db.engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", fail)


class AnswersThen:
    """Rings and answers at once (the ringing folded into the answer, with the carrier's id),
    then either talks `talk_s` and hangs up, or stops the worker (`stop`: the call is cut)."""

    def __init__(self, clock: LoopClock, *, stop: bool, talk_s: float = 30) -> None:
        self.clock, self.stop, self.talk_s = clock, stop, talk_s
        self.worker: Worker | None = None
        self.answered_at: int | None = None

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        assert self.worker is not None
        await asyncio.sleep(2)
        await hooks.ringing(f"sim-{call.id[:8]}")
        self.answered_at = self.clock.now_ms()
        await hooks.answered(self.answered_at)
        await asyncio.sleep(self.talk_s)
        if self.stop:
            self.worker.stop()
            await asyncio.sleep(600)  # cancelled by the stop (no grace)
            raise AssertionError("the stop did not cancel the call")
        return hung_up(call, self.clock, self.answered_at)


@pytest.mark.parametrize("stop", [False, True], ids=["hung_up", "stopped"])
def test_an_answer_whose_write_failed_is_stored_with_the_end(
    db: Database, tenant: Tenant, stop: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer's own write fails (every time: a defect, not a blip); the end stores it, at the
    time the conductor reported, whether the callee hung up or the worker stopped the call."""
    WebhookAdmin(db, lambda: 0).add(tenant.organization_id, "https://receiver.invalid/hooks")
    failed: list[str] = []

    async def main() -> tuple[list[str], AnswersThen]:
        clock = LoopClock()
        ids = create_calls(db, clock, tenant, 1)
        conductor = AnswersThen(clock, stop=stop)
        conductor.worker = Worker(db, conductor, clock=clock, config=replace(CONFIG, shutdown_grace_s=0))
        await run_until(conductor.worker, lambda: settled(db, tenant, ids), limit_s=300)
        return ids, conductor

    with (
        failing_answers(db, failed, lambda: RuntimeError("the answer's write failed")),
        caplog.at_level(logging.ERROR, logger="callplane.engine.jobs.callrun"),
    ):
        ids, conductor = run_virtual(main())
    assert len(failed) == 1 and "could not store that call" in caplog.text
    [call] = load(db, tenant, ids)
    expected = (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI) if stop else (
        CallStatus.ENDED, DisconnectionReason.USER_HANGUP
    )  # fmt: skip
    assert (call.status, call.disconnection_reason) == expected
    assert call.answered_at == conductor.answered_at and call.telephony_id == f"sim-{call.id[:8]}"
    # 30 s talked at 100.00 KRW a minute, billed from the answer; a call the platform cut is
    # billed up to the last thing said, and nothing was (`postcall.price`).
    assert call.cost_minor == (0 if stop else 5_000)
    assert started_then_ended(db, tenant, call.id)


class GreetsAtOnce:
    """Answers and greets at once, then notes the record stored 5 s into the call."""

    def __init__(self, db: Database, tenant: Tenant, clock: LoopClock) -> None:
        self.db, self.tenant, self.clock = db, tenant, clock
        self.stored_at_5_s: list[Any] | None = None

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        await hooks.ringing(f"sim-{call.id[:8]}")
        answered_at = self.clock.now_ms()
        await hooks.answered(answered_at)
        hooks.progress([{"role": "agent", "content": "안녕하세요", "start_at": 0, "end_at": 900}], {})
        await asyncio.sleep(5)
        [stored] = load(self.db, self.tenant, [call.id])
        self.stored_at_5_s = stored.transcript
        await asyncio.sleep(5)
        return hung_up(call, self.clock, answered_at)


def test_a_record_reported_before_the_answer_committed_is_stored_after_it(
    db: Database, tenant: Tenant
) -> None:
    """The answer's write meets two blips (retried 0.1 s and 0.6 s later): the progress writer's
    first flush (0.25 s) comes while the call is not `ongoing` yet, which would drop the record."""
    failed: list[str] = []

    async def main() -> GreetsAtOnce:
        clock = LoopClock()
        ids = create_calls(db, clock, tenant, 1)
        conductor = GreetsAtOnce(db, tenant, clock)
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=120)
        return conductor

    blip = lambda: OperationalError("UPDATE calls", None, Exception("server closed the connection"))  # noqa: E731
    with failing_answers(db, failed, blip, times=2):
        conductor = run_virtual(main())
    assert len(failed) == 2
    assert conductor.stored_at_5_s is not None and conductor.stored_at_5_s[0]["content"] == "안녕하세요"
