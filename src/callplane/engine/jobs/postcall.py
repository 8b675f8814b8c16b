"""Post-call: a durable step for every terminal call, connected or not.

The terminal transition sets `postcall_due_at`; a worker claims the step (see `store.lifecycle`),
and then:

1. analysis — through the `Analyser` given to the worker (offline by default; nothing is stored
   for an opted-out call);
2. cost — talk time from `answered_at` to `end_at`, billed per started second at the agent
   version's per-minute KRW rate (`pricing.rate_per_minute` in the agent file), else the
   organisation's, rounded half-up to 0.01 KRW (`domain.money`). A call never answered costs
   nothing. An answered call the platform failed (`error_voxai`: a lost worker, a bug) is billed
   for the talk that happened — up to the last thing said or done in its transcript — never for
   the time the platform took to notice (a reaper's `end_at`); nothing said, nothing billed;
3. one transaction: store analysis and cost (fenced by the claim), settle the balance through the
   ledger — exactly once per call, whatever runs twice — and write the `call_analyzed` event.

An analyser that raises is retried with backoff; after `MAX_ATTEMPTS` the step completes without
analysis so cost, balance and the webhook are not held hostage by a broken analysis endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from callplane.domain.agent import AgentVersion, VersionKey
from callplane.domain.call import Call, CallAnalysis, DisconnectionReason, TranscriptEntry
from callplane.domain.errors import NotFound
from callplane.domain.money import call_cost_minor
from callplane.domain.org import Organization
from callplane.engine.clock import Clock
from callplane.engine.jobs.analysis import Analyser, OfflineAnalyser
from callplane.engine.jobs.lanes import Lanes, offload
from callplane.engine.memo import Memo
from callplane.engine.services.webhooks import EventType, emit
from callplane.store import agents as agent_store
from callplane.store import ledger, lifecycle
from callplane.store import orgs as org_store
from callplane.store.db import Database
from callplane.store.lifecycle import Analysed, PostCallClaim

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
_PLATFORM_FAILURES = frozenset(
    {DisconnectionReason.ORPHANED_NO_AGENT_PICKUP, DisconnectionReason.ERROR_VOXAI}
)


def price(call: Call, version: AgentVersion | None, org_rate: Callable[[], Decimal]) -> int:
    """The call's cost in minor units (1/100 KRW); `org_rate` gives the organisation's per-minute
    rate, asked only when the agent version has none."""
    if call.answered_at is None or call.end_at is None:
        return 0
    end_at = call.end_at
    if call.disconnection_reason in _PLATFORM_FAILURES:
        end_at = min(end_at, _last_activity(call.transcript, default=call.answered_at))
    if end_at <= call.answered_at:
        return 0
    rate = version.rate_per_minute if version is not None and version.rate_per_minute is not None else None
    return call_cost_minor(rate if rate is not None else org_rate(), end_at - call.answered_at)


def _last_activity(transcript: list[TranscriptEntry] | None, *, default: int) -> int:
    """Unix ms of the last thing the transcript holds (an utterance's end, a tool call)."""
    times = [
        value
        for entry in transcript or []
        for key in ("end_at", "at")
        if isinstance(value := entry.get(key), int)
    ]
    return max(times, default=default)


@dataclass(frozen=True, slots=True)
class PostCallConfig:
    batch: int = 20
    lease_s: float = 120.0
    retry_base_s: float = 10.0


class PostCall:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        analyser: Analyser,
        config: PostCallConfig | None = None,
        *,
        lanes: Lanes | None = None,
    ):
        self.db = db
        self.lanes = lanes
        self.clock = clock
        self.analyser = analyser
        self.config = config or PostCallConfig()
        self._versions: Memo[VersionKey, AgentVersion | None] = Memo()

    async def run_due(self) -> int:
        """Run one batch of due post-call steps; returns how many were claimed."""
        now = self.clock.now_ms()
        claims = await offload(self.lanes, lambda: self._claim(now))
        await asyncio.gather(*(self._one(*c) for c in claims))
        return len(claims)

    def _claim(self, now: int) -> list[tuple[PostCallClaim, Organization, AgentVersion | None]]:
        """The due steps, each with its organisation (read once per organisation of the batch)
        and its agent version."""
        with self.db.read() as conn:
            if not lifecycle.postcall_due(conn, now):
                return []
        with self.db.write() as conn:
            claims = lifecycle.claim_postcall(conn, now, int(self.config.lease_s * 1000), self.config.batch)
            orgs = {o: org_store.get_organization(conn, o) for o in {c.organization_id for c in claims}}
            return [(c, orgs[c.organization_id], self._version(conn, c.call)) for c in claims]

    async def _one(self, claim: PostCallClaim, org: Organization, version: AgentVersion | None) -> None:
        call = claim.call
        analysis: CallAnalysis | None = None
        if version is not None:
            try:
                analysis = await self.analyser.analyse(call, version, claim.collected)
            except Exception:
                if claim.fence < MAX_ATTEMPTS:
                    delay = self.config.retry_base_s * 2 ** (claim.fence - 1)
                    log.exception("analysis of call %s failed; retrying in %.0f s", call.id, delay)
                    due_at = self.clock.now_ms() + int(delay * 1000)
                    await offload(self.lanes, lambda: self._retry(claim, due_at))
                    return
                log.exception("analysis of call %s failed %d times; completing without", call.id, claim.fence)
        if call.opt_out_sensitive_data_storage:
            analysis = None
        cost, now = price(call, version, lambda: org.rate_per_minute), self.clock.now_ms()
        if self.lanes is None:
            self.complete(claim, analysis, cost, now)
        else:
            # A step of a group commit: the completions of a batch share transactions.
            await self.lanes.write(lambda conn: _complete(conn, claim, analysis, cost, now), claim.call_id)

    def with_end(
        self, conn: Connection, call: Call, version: AgentVersion, collected: dict[str, Any]
    ) -> Analysed | None:
        """Post-call for a call as it is being ended (`call` as it will be stored), in the end's
        transaction, when the analyser has nothing to wait for (`OfflineAnalyser`): the same
        analysis and cost the durable step would store, without its claim, its completion
        UPDATE and its transaction. None: the durable step does it (an LLM analyser)."""
        if not isinstance(self.analyser, OfflineAnalyser):
            return None

        def org_rate() -> Decimal:
            return org_store.get_organization(conn, call.organization_id).rate_per_minute

        try:
            analysis = (
                None
                if call.opt_out_sensitive_data_storage
                else self.analyser.analysis(call, version, collected)
            )
            return Analysed(analysis, price(call, version, org_rate))
        except SQLAlchemyError:
            raise  # the end's transaction failed: its step is retried whole
        except Exception:
            # A defect in the analysis (a malformed analysis field, say) must not cost the call
            # its end: the end is stored without it and the durable step, which retries and then
            # completes without analysis, takes over.
            log.exception("post-call with the end failed for call %s; left to the post-call step", call.id)
            return None

    def _retry(self, claim: PostCallClaim, due_at: int) -> None:
        with self.db.write() as conn:
            lifecycle.retry_postcall(conn, claim, due_at)

    def _version(self, conn: Connection, call: Call) -> AgentVersion | None:
        """The pinned agent version (immutable, so cached), or None if it is gone."""
        key = (call.organization_id, call.agent.agent_id, call.agent.version)

        def read() -> AgentVersion | None:
            try:
                return agent_store.get_version(conn, *key)
            except NotFound:
                return None

        return self._versions.get(key, read)

    def complete(
        self, claim: PostCallClaim, analysis: CallAnalysis | None, cost_minor: int, now: int
    ) -> bool:
        """Store, settle and announce, in one transaction; False if the claim was taken over."""
        with self.db.write() as conn:
            return _complete(conn, claim, analysis, cost_minor, now)


def _complete(
    conn: Connection, claim: PostCallClaim, analysis: CallAnalysis | None, cost_minor: int, now: int
) -> bool:
    moved = lifecycle.complete_postcall(conn, claim, analysis=analysis, cost_minor=cost_minor, now=now)
    if moved is None:
        return False
    if cost_minor > 0:
        ledger.settle(conn, claim.organization_id, claim.call_id, cost_minor, now)
    emit(conn, moved, claim.agent, EventType.CALL_ANALYZED, now)
    return True
