"""One live call on a worker: its claim, the hooks the Conductor calls, and storing its outcome.

The worker (`engine.jobs.worker`) makes one `CallRun` per claimed call and runs `conduct` as that
call's task. Every change is fenced on the claim's attempt, so a run whose lease was lost (the
reaper ended the call, or another worker's) can never move the call again.

Database steps run off the loop (`engine.jobs.lanes`) and are retried through a database blip.
The hooks never wait for the database: the ringing is stored from a timer and the answer by a
task of its own, beside the conversation — the callee hears the agent at once, not once the
answer has committed (a round trip, a group commit's wait; under load tens to hundreds of ms,
through a blip seconds). The end waits for those writes before it is stored (`_settle_writes`),
so the answer is noted only once it committed and the end is stored after it. Nor do the hooks
raise a database failure into the Conductor: a `ringing` that cannot be stored is not the
carrier's failure (the Conductor would record `dial_failed`), and an `answered` that cannot be
stored must not hang up a talking callee — the final transition stores the answer with the end
instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from callplane.domain.agent import AgentVersion
from callplane.domain.call import CallStatus, DisconnectionReason, TranscriptEntry
from callplane.engine import lifecycle, logcontext, metrics
from callplane.engine.dialing import Claimed
from callplane.engine.jobs.progress import salvaged
from callplane.engine.live.conduct import Outcome
from callplane.engine.services import recordings
from callplane.store import agents as agent_store
from callplane.store import lifecycle as store_lifecycle
from callplane.store.lifecycle import Analysed, Ending
from callplane.store.progress import Record

if TYPE_CHECKING:
    from callplane.engine.jobs.worker import Worker

log = logging.getLogger(__name__)

#: How long a ringing waits to be stored: an answer (or an end) within it stores it instead. The
#: simulated line answers within a ring or two; a person takes longer, and their call shows
#: `ringing` this much later than the carrier said so.
RINGING_FOLD_S = 0.5

_TERMINAL_OUTCOMES = frozenset(
    {CallStatus.ENDED, CallStatus.NOT_CONNECTED, CallStatus.ERROR, CallStatus.CANCELED}
)


class CallRun:
    """One live call on this worker: the claim, its task, and the hooks the Conductor calls."""

    def __init__(self, worker: Worker, claimed: Claimed) -> None:
        self.worker = worker
        self.claimed = claimed
        self.call = claimed.call
        self.attempt = claimed.attempt
        self.is_answered = False
        self.end_flag = False
        self.lost = False
        #: Its outcome is being stored (fenced on the attempt): the heartbeat leaves it alone.
        self.ending = False
        self.task: asyncio.Task[None] | None = None
        #: The record the conductor last reported (`progress`), for an outcome it cannot give.
        self.transcript: list[TranscriptEntry] = []
        self.collected: dict[str, Any] = {}
        self.telephony_id: str | None = None
        self.version: AgentVersion | None = None
        #: When the answer was stored (`answered`), for a post-call done with the end.
        self.answered_at: int | None = None
        #: When the conductor said the call was answered: the end stores the answer at this time
        #: if the answer's own write did not.
        self.reported_answer_at: int | None = None
        #: The ringing waiting to be stored (`RINGING_FOLD_S`), and its write once under way.
        self._ringing: asyncio.TimerHandle | None = None
        self._ring_task: asyncio.Future[None] | None = None
        #: The answer's write, under way beside the conversation.
        self._answer_task: asyncio.Future[None] | None = None
        #: The record reported while the answer's write was under way (`progress`).
        self._held: Record | None = None

    # The Conductor's hooks (`CallHooks`) ----------------------------------------------------

    async def ringing(self, telephony_id: str) -> None:
        w = self.worker
        metrics.claim_to_dial.observe(max(0, w.clock.now_ms() - self.claimed.claimed_at) / 1000)
        self.telephony_id = telephony_id
        if self._ringing is None:
            # Stored a moment later, unless the answer or the end comes first and stores it (one
            # row version and one transaction less per call when the callee picks up at once).
            now = w.clock.now_ms()
            self._ringing = asyncio.get_running_loop().call_later(
                RINGING_FOLD_S, lambda: self._keep(self._store_ringing(telephony_id, now))
            )

    def _keep(self, work: Coroutine[Any, Any, None]) -> None:
        self._ring_task = asyncio.ensure_future(work)

    def _fold_ringing(self) -> str | None:
        """The answer or the end is about to be stored: the ringing not stored yet goes with it
        (its telephony id). None if there is none left to fold."""
        if self._ringing is None or self._ring_task is not None:
            return None
        self._ringing.cancel()
        return self.telephony_id

    async def _store_ringing(self, telephony_id: str, now: int) -> None:
        w = self.worker

        def ring(conn: Connection) -> None:
            # Fenced like every step: a ringing stored after the answer or the end (the timer
            # fired as they were being stored) finds the call no longer dialling and changes nothing.
            store_lifecycle.ring(
                conn,
                self.call.organization_id,
                self.call.id,
                fence=self.attempt,
                telephony_id=telephony_id,
                now=now,
            )

        try:
            await w.lanes.retrying(
                lambda: w.lanes.write(ring, self.call.id), f"storing the ringing of call {self.call.id}"
            )
        except Exception:
            # Only a status on the way: the call goes on, and its end is stored from `dialing`.
            log.exception("could not store that call %s is ringing", self.call.id)
            metrics.engine_errors.labels("ringing").inc()

    async def answered(self, at_ms: int) -> None:
        # Returns at once: the conversation starts while the answer is stored (`_store_answer`).
        if self._answer_task is not None:
            return  # a call is answered once
        self.reported_answer_at = at_ms
        # The carrier's id goes with the answer even when the ringing's own write is on its way
        # or failed: a reaper can hang up only a call whose id is stored.
        telephony_id = self._fold_ringing() or self.telephony_id
        now = self.worker.clock.now_ms()
        self._answer_task = asyncio.ensure_future(self._store_answer(at_ms, now, telephony_id))

    async def _store_answer(self, at_ms: int, now: int, telephony_id: str | None) -> None:
        w = self.worker

        def answer(conn: Connection) -> bool:
            return lifecycle.answered(
                conn, self.call, fence=self.attempt, at=at_ms, now=now, telephony_id=telephony_id
            )

        try:
            # Noted only once its transaction committed (`Lanes.write`): a rolled-back answer
            # is never believed, and the end then stores it (`_finish`).
            answered = await w.lanes.retrying(
                lambda: w.lanes.write(answer, self.call.id), f"storing the answer of call {self.call.id}"
            )
            if answered:
                self.is_answered, self.answered_at = True, at_ms
                if self._held is not None:
                    self.worker.progress.put(self._held)
                    self._held = None
        except Exception:
            # The callee is talking: keep the call; `_finish` stores the answer with the end.
            log.exception("could not store that call %s was answered", self.call.id)
            metrics.engine_errors.labels("answered").inc()

    def end_requested(self) -> bool:
        return self.end_flag

    def progress(self, transcript: list[TranscriptEntry], collected: dict[str, Any]) -> None:
        self.transcript, self.collected = transcript, collected
        if self.call.opt_out_sensitive_data_storage:
            return
        record = Record(self.call.organization_id, self.call.id, self.attempt, transcript, collected)
        if self._answer_task is not None and not self._answer_task.done():
            # A record is stored only on an ongoing call (`store.progress`): one written before
            # the answer commits would be dropped, so it waits for the answer (`_store_answer`).
            self._held = record
            return
        self.worker.progress.put(record)

    # The call's task ------------------------------------------------------------------------

    async def conduct(self) -> None:
        w = self.worker
        # This task's own context: every log line of the call names it and its creating request.
        logcontext.request_id.set(self.call.request_id)
        logcontext.call_id.set(self.call.id)
        outcome: Outcome | None = None
        try:
            try:
                outcome = await self._outcome()
                # Still one of this worker's runs while its recording is stored: a stop waits for it.
                outcome = await self._keep_recording(outcome)
            except asyncio.CancelledError:
                if self.lost:
                    # Someone else ended it: its writes under way are fenced out; none outlives the run.
                    self._drop_writes()
                    return
                if outcome is None:
                    outcome = Outcome(
                        CallStatus.ERROR,
                        DisconnectionReason.ERROR_VOXAI,
                        w.clock.now_ms(),
                        error_detail="the worker shut down during the call",
                    )
                # Stopped while the recording was stored: the call itself ended; keep that.
                outcome = replace(outcome, recording=None)
                await self._store_outcome(salvaged(outcome, self.transcript, self.collected))
                raise
            await self._store_outcome(outcome)
        finally:
            # The place is freed once the end is stored: the claim pass this wakes counts the
            # organisation's live calls in the database, where the call has ended by then, and
            # does not queue on the row locks of the end's transaction (post-call with the end
            # settles the organisation's balance row, which a pass locks too).
            w.run_done(self)

    async def _keep_recording(self, outcome: Outcome) -> Outcome:
        """Store the call's recording (in a thread: the WAV is built and written off the loop) and
        note its key; a failure costs the recording, never the rest of the outcome."""
        blobs = self.worker.blobs
        call = self.call
        if outcome.recording is None or blobs is None or call.opt_out_sensitive_data_storage:
            return outcome
        try:
            key = await asyncio.to_thread(
                recordings.store, blobs, call.organization_id, call.id, outcome.recording
            )
        except Exception:
            log.exception("could not store the recording of call %s", call.id)
            metrics.engine_errors.labels("store_recording").inc()
            return replace(outcome, recording=None)
        return replace(outcome, recording=None, recording_key=key)

    async def _settle_writes(self) -> None:
        """Wait for the hooks' writes under way (they never raise): the end is stored after them,
        and on what they committed (`is_answered`, `answered_at`)."""
        writes = {write for write in (self._ring_task, self._answer_task) if write is not None}
        if writes:
            await asyncio.wait(writes)

    def _drop_writes(self) -> None:
        """The call is not this run's any more: stop its ringing's timer and its hooks' writes (a
        step not started yet is skipped, one in flight is fenced out by the new owner's move)."""
        if self._ringing is not None:
            self._ringing.cancel()
        for write in (self._ring_task, self._answer_task):
            if write is not None:
                write.cancel()

    async def _store_outcome(self, outcome: Outcome) -> None:
        """Store the outcome, to the end even when the call's task is cancelled meanwhile (a stop's
        grace ran out as the conductor returned): the cancel is let through once it is stored."""
        storing = asyncio.ensure_future(self._store(outcome))
        try:
            await asyncio.shield(storing)
        except asyncio.CancelledError:
            await storing
            raise

    async def _store(self, outcome: Outcome) -> None:
        self.ending = True
        self._fold_ringing()  # the outcome carries the telephony id
        await self._settle_writes()
        self.worker.progress.forget(self.call.id)  # the outcome carries the whole record
        try:
            # Losing the transcript would be the worst outcome: retried through a blip.
            now = self.worker.clock.now_ms()
            lanes = self.worker.lanes
            # The answer is noted only once the transaction committed: a retry after a dropped
            # connection must not believe a rolled-back "answered" happened.
            answered, moved = await lanes.retrying(
                lambda: lanes.write(lambda conn: self._finish(conn, outcome, now), self.call.id),
                f"storing the outcome of call {self.call.id}",
            )
        except Exception:
            # The database is unreachable: the lease will lapse and a reaper ends the call.
            log.exception("could not store the outcome of call %s (%s)", self.call.id, outcome.reason)
            metrics.engine_errors.labels("store_outcome").inc()
            return
        self.is_answered = answered
        if not moved:
            log.warning(
                "call %s was ended elsewhere before its outcome (%s) was stored", self.call.id, outcome.reason
            )

    async def _outcome(self) -> Outcome:
        w = self.worker
        try:
            return await w.conductor.conduct(self.call, await self._version(), self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The Conductor promises not to raise for call-level failures; this is a bug.
            log.exception("call %s failed inside the worker", self.call.id)
            metrics.engine_errors.labels("call").inc()
            outcome = Outcome(
                CallStatus.ERROR,
                DisconnectionReason.ERROR_VOXAI,
                w.clock.now_ms(),
                error_detail=f"internal error: {type(exc).__name__}",
            )
            return salvaged(outcome, self.transcript, self.collected)

    async def _version(self) -> AgentVersion:
        """The agent version the call is pinned to (noted for post-call at the end); versions are
        immutable, so they are cached."""
        call = self.call
        key = (call.organization_id, call.agent.agent_id, call.agent.version)

        def read() -> AgentVersion:
            with self.worker.db.read() as conn:
                return agent_store.get_version(conn, *key)

        self.version = await self.worker.versions.aget(key, lambda: self.worker.lanes.run(read))
        return self.version

    def _finish(self, conn: Connection, outcome: Outcome, now: int) -> tuple[bool, bool]:
        """Store the outcome (a step of a group commit); says whether the call is answered and
        whether it moved."""
        call = self.call
        status = outcome.status if outcome.status in _TERMINAL_OUTCOMES else CallStatus.ERROR
        answered_at = outcome.answered_at
        answered = self.is_answered
        if not answered and (status is CallStatus.ENDED or self.reported_answer_at is not None):
            # The answer's own write failed, or the conductor reported a connected call without
            # the `answered` hook: the answer is stored with the end.
            if answered_at is None:
                reported = self.reported_answer_at
                answered_at = reported if reported is not None else outcome.ended_at
            answered = lifecycle.answered(conn, call, fence=self.attempt, at=answered_at, now=now)
        ending = Ending(
            status,
            outcome.reason,
            end_at=outcome.ended_at,
            duration_ms=lifecycle.duration_ms(call, outcome.ended_at),
            answered_at=answered_at,
            # Outcomes of failures carry no id; the one the ringing reported (folded) is kept.
            telephony_id=outcome.telephony_id or self.telephony_id,
            transcript=list(outcome.transcript),
            collected=dict(outcome.collected),
            recording_key=outcome.recording_key,
            error_detail=outcome.error_detail,
        )
        if self.version is not None:
            ending = replace(ending, postcall=self._postcall(conn, ending, answered))
        return answered, lifecycle.ended(conn, call, ending, now=now, fence=self.attempt)

    def _postcall(self, conn: Connection, ending: Ending, answered: bool) -> Analysed | None:
        """Post-call with the end, on the call as the end stores it (`PostCall.with_end`)."""
        assert self.version is not None
        call = self.call
        opt_out = call.opt_out_sensitive_data_storage
        ended = replace(
            call,
            status=ending.status,
            disconnection_reason=ending.reason,
            end_at=ending.end_at,
            duration_ms=ending.duration_ms,
            answered_at=ending.answered_at
            if ending.answered_at is not None
            else (self.answered_at if answered else None),
            telephony_id=ending.telephony_id or call.telephony_id,
            # Opted out: nothing is stored, so post-call sees no transcript, as the durable step would.
            transcript=None if opt_out else ending.transcript,
            error_detail=ending.error_detail,
            recording_key=None if opt_out else ending.recording_key,
        )
        collected = {} if opt_out else dict(ending.collected or {})
        return self.worker.postcall.with_end(conn, ended, self.version, collected)
