"""The campaign feeder job: every poll, each campaign that may start, runs, is paused or is
still finishing is fed (`engine.services.campaign_feed.feed_one`) in its own short write
transaction, so one campaign's failure or lock never holds up the others.
"""

from __future__ import annotations

import logging

from callplane.engine.services.calls import CallService
from callplane.engine.services.campaign_feed import FeedResult, feed_one
from callplane.store import campaigns as store
from callplane.store.db import Database

log = logging.getLogger(__name__)


def feed(db: Database, service: CallService, now: int) -> FeedResult:
    result = FeedResult()
    with db.read() as conn:
        running = store.feedable(conn)
    for organization_id, campaign_id in running:
        try:
            with db.write() as conn:
                feed_one(conn, service, organization_id, campaign_id, now, result)
        except Exception:
            # One broken campaign must not stop the others; the next pass tries it again.
            log.exception("feeding campaign %s failed", campaign_id)
    return result
