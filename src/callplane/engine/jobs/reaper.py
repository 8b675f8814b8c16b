"""The reaper: ends calls whose worker died (their lease expired), and never dials them again.

A live call's lease is renewed by its worker's heartbeat. When it runs out, the worker is gone
(killed, partitioned from the database, or stuck) and nobody is holding the line, so any worker's
reaper ends the call — status `error` in both cases, because the platform failed the call, not
the callee:

- never answered (`dialing`/`ringing`) → `error` + `orphaned_no_agent_pickup`;
- answered (`ongoing`) → `error` + `error_voxai` (Vox's "platform failure").

`error_detail` says the worker was lost and whether the call had been answered.

`end_at` is when the reaper noticed. Neither costs anything (see `engine.jobs.postcall`). Post-call and
the `call_ended` webhook follow as for any terminal call. The end is fenced on the attempt the
reaper saw *and* on the lease still being expired, so a worker that renews at the last moment
keeps its call; a worker that comes back after its call was reaped finds it terminal and its
heartbeat cancels the run. Calls are claimed only from `queued`, so a reaped call is never
redialled.

A pass works in small batches (`BATCH` calls), each its own short transaction, run off the
worker's loop (`engine.jobs.lanes`): a reaper stalled by a loaded host holds no lock for long and
a worker killed mid-pass loses at most one batch's work; a call is logged as reaped only after
its batch committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.engine import lifecycle
from callplane.store import queue
from callplane.store.db import Database
from callplane.store.lifecycle import Ending

log = logging.getLogger(__name__)


#: Calls ended per transaction.
BATCH = 10


def reap(db: Database, now: int, limit: int = 100, on_reaped: Callable[[Call], None] | None = None) -> int:
    """End up to `limit` calls whose lease expired before `now`; returns how many were ended.
    `on_reaped` then hears of each one the carrier knows (a telephony id), to hang it up there:
    a dead worker's carrier call must not go on talking or billing."""
    ended = 0
    while ended < limit:
        with db.read() as conn:
            if not queue.any_expired(conn, now):
                break
        batch = _reap_batch(db, now, min(BATCH, limit - ended))
        for call, reason in batch:
            log.warning("reaped call %s (%s, attempt %d): %s", call.id, call.status, call.attempt, reason)
            if on_reaped is not None and call.telephony_id is not None:
                on_reaped(call)
        ended += len(batch)
        if not batch:
            break  # what is left is locked by another reaper, or was renewed at the last moment
    return ended


def _reap_batch(db: Database, now: int, size: int) -> list[tuple[Call, DisconnectionReason]]:
    """End one batch of expired calls in one transaction; returns those ended once committed."""
    ended: list[tuple[Call, DisconnectionReason]] = []
    with db.write() as conn:
        for call in queue.expired_leases(conn, now, size):
            answered = call.status is CallStatus.ONGOING
            reason = (
                DisconnectionReason.ERROR_VOXAI if answered else DisconnectionReason.ORPHANED_NO_AGENT_PICKUP
            )
            ending = Ending(
                CallStatus.ERROR,
                reason,
                end_at=now,
                duration_ms=lifecycle.duration_ms(call, now),
                error_detail=f"worker lost: its lease expired ({'answered' if answered else 'not answered'})",
            )
            if lifecycle.ended(
                conn, call, ending, now=now, fence=call.attempt, also=queue.lease_still_expired(now)
            ):
                ended.append((call, reason))
    return ended
