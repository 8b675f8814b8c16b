"""Table definitions (SQLAlchemy Core). The DDL itself lives in the Alembic migrations.

Every table that belongs to an organisation leads its keys and indexes with `organization_id`,
so every query can be tenant-scoped by an index prefix and the schema can later be sharded by
organisation (Citus requires the distribution column in every unique key).

Times are Unix ms (`BIGINT`), money is integer minor units (1/100 KRW), ids are UUID strings.

`calls.listed_at` is the list's "start time" sort key: `start_at` once the call has been
dialled, `created_at` before that. It is never null, so the default newest-first order and its
keyset cursor use a plain b-tree.

SQLite keeps an `INTEGER PRIMARY KEY` alias (`rid`) on `calls` for its search index (FTS5 rows
are keyed by rowid, and an unaliased rowid can change on VACUUM); PostgreSQL keys `calls` by
`(organization_id, id)` and has no `rid`. `rid` is therefore not part of this Table and is only
named in SQLite-specific statements.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")
Id = String(36)
Phone = String(20)


organizations = Table(
    "organizations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # Calling rules, checked at dial time.
    Column("timezone", String(64), nullable=False),
    Column("window_start_min", Integer, nullable=False),  # minutes after local midnight
    Column("window_end_min", Integer, nullable=False),  # exclusive; 1440 = midnight
    Column("window_days", String(7), nullable=False),  # ISO weekdays allowed, e.g. "1234567"
    Column("max_concurrent_calls", Integer, nullable=False),
    Column("max_queue_wait_s", Integer),  # null: wait for a free slot forever
    Column("hourly_call_limit", Integer),  # null: no cap
    Column("daily_call_limit", Integer),
    Column("balance_minor", BigInteger),  # null: postpaid, no balance check
    Column("rate_per_minute_minor", BigInteger, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Id, primary_key=True),
    Column("organization_id", Id, nullable=False),
    Column("kind", String(16), nullable=False),  # bearer | key_secret
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("secret_hash", String(64)),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
    Column("last_used_at", BigInteger),
    Column("scopes", String(200), nullable=False),  # space-separated `domain.principal.Scope` names
)

agents = Table(
    "agents",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("production_version", Integer),
    Column("created_at", BigInteger, nullable=False),
)

agent_versions = Table(
    "agent_versions",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("agent_id", Id, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("definition", Json, nullable=False),  # the whole agent file as given
    Column("description", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# An owned number and an approved presentation number belong to one organisation at most (unique
# indexes on `number` alone, migration 0005): numbers are the deployment's, not a tenant's, data,
# so these two keys are the deliberate exception to leading with `organization_id`.
phone_numbers = Table(
    "phone_numbers",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("number", Phone, primary_key=True),
    Column("label", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # Migration 0010: the carrier the number is on (a telephony provider's registry name) and
    # the agent that answers calls to it (null: inbound calls are rejected).
    Column("provider", String(32), nullable=False, server_default="simulated"),
    Column("inbound_agent_id", Id),
)

presentation_numbers = Table(
    "presentation_numbers",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("number", Phone, primary_key=True),
    Column("approved_at", BigInteger),  # null: requested, not approved
    Column("created_at", BigInteger, nullable=False),
)

traffic_splits = Table(
    "traffic_splits",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("from_number", Phone, nullable=False),
    Column("variants", Json, nullable=False),  # [{agent_id, agent_version, weight, label}]
    Column("active", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("number", Phone, primary_key=True),
    Column("reason", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("call_id", Id, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

#: Admin creates' Idempotency-Keys (Stripe-style; see store/idempotency.py). `status_code` NULL:
#: the first request is still in flight.
idempotent_requests = Table(
    "idempotent_requests",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer),
    Column("body", Text),
    Column("secret_withheld", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("id", Id, nullable=False),
    Column("agent_id", Id, nullable=False),
    Column("agent_version", Integer, nullable=False),
    Column("agent_version_spec", String(16), nullable=False),
    Column("call_type", String(16), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("from_number", Phone),
    Column("to_number", Phone),
    Column("presentation_number", Phone),
    Column("variant_label", String(100)),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("listed_at", BigInteger, nullable=False),
    Column("start_at", BigInteger),
    Column("answered_at", BigInteger),
    Column("end_at", BigInteger),
    Column("duration_ms", BigInteger),
    Column("disconnection_reason", String(32)),
    Column("user_sentiment", String(16)),
    Column("metadata", Json, nullable=False),
    Column("dynamic_variables", Json, nullable=False),
    Column("transcript", Json),
    Column("search_text", Text),  # NFC + casefolded transcript text, for substring search
    Column("recording_key", Text),  # in the blob store (engine/blobs); NULL: none
    Column("analysis", Json),
    Column("cost_minor", BigInteger),
    Column("opt_out", Boolean, nullable=False),
    Column("error_detail", Text),
    Column("telephony_id", String(100)),
    # Engine bookkeeping: the lease (fenced by attempt) and the durable post-call step.
    Column("attempt", Integer, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", BigInteger),
    Column("end_requested_at", BigInteger),
    Column("postcall_due_at", BigInteger),
    Column("postcall_attempts", Integer, nullable=False),
    Column("collected", Json),  # values the agent collected (null when opted out)
    # Migration 0008: the campaign task this call was made for (null: an ordinary call).
    Column("campaign_id", Id),
    Column("campaign_task", Integer),  # the task's `seq` in its campaign
    # The creating API request's id (migration 0009), carried into the worker's log lines.
    Column("request_id", String(128)),
    # What the carrier says it charged (migration 0010), e.g. `-0.01300 USD`: reconciliation only.
    Column("carrier_price", String(40)),
)

#: Migration 0010: calls created per organisation and UTC day (`day` = its first ms), complete for
#: the days before the organisation's `call_count_marks.counted_until` (see `store.counting`).
call_counts = Table(
    "call_counts",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("day", BigInteger, primary_key=True),
    Column("calls", BigInteger, nullable=False),
)

call_count_marks = Table(
    "call_count_marks",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("counted_until", BigInteger, nullable=False),
)

#: Metadata equality index, one row per scalar metadata value (PostgreSQL too since migration 0022).
call_meta = Table(
    "call_meta",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text, primary_key=True),
    Column("listed_at", BigInteger, primary_key=True),
    Column("call_id", Id, primary_key=True),
)

# Engine (migration 0002): webhook endpoints, the outbox and its delivery log, the ledger.

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", String(100), nullable=False),  # whsec_…, shown once at creation
    Column("events", Json, nullable=False),  # event types it receives
    Column("agent_id", Id),  # null: every agent's calls
    Column("description", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_reason", Text),
    #: The payload format it receives (migration 0010): `vox` (Standard Webhooks) or `retell`.
    Column("format", String(16), nullable=False, server_default="vox"),
)

#: Signs deliveries to an agent version's own `webhook_url` (one secret per organisation).
webhook_signing_secrets = Table(
    "webhook_signing_secrets",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("secret", String(100), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

#: The transactional outbox: written in the transaction of the status change that causes it.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("id", String(40), primary_key=True),  # msg_…, the stable `webhook-id`
    Column("call_id", Id),  # call events only (migration 0018)
    Column("type", String(32), nullable=False),
    Column("body", Text, nullable=False),  # the exact bytes signed and sent
    Column("created_at", BigInteger, nullable=False),
    Column("format", String(16), nullable=False, server_default="vox"),  # how `body` is signed
    Column("subject_kind", String(16), nullable=False, server_default="call"),  # call|campaign|endpoint
    Column("subject_id", Id, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("event_id", String(40), nullable=False),
    Column("endpoint_id", Id),  # null: the agent version's webhook_url
    Column("url", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("delivery_id", Id, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("call_id", Id, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # signed: a charge is negative
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("organization_id", "call_id", "kind", name="uq_ledger_call_kind"),
)

#: Secrets of the deployment, shared by every API process through the database (not per
#: organisation): `cursor` signs list cursors. Written by migration 0007.
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)


# Campaigns (migration 0008). A task is not a call until the feeder makes it one.

campaigns = Table(
    "campaigns",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("from_number", Phone, nullable=False),
    Column("agent_id", Id),  # null: the from_number's traffic split picks per call
    Column("agent_version", String(16), nullable=False),
    Column("presentation_number", Phone),
    Column("scheduled_at", BigInteger),
    Column("timezone", String(64), nullable=False),
    Column("window_start_min", Integer, nullable=False),
    Column("window_end_min", Integer, nullable=False),
    Column("window_days", String(7), nullable=False),
    # Every window [[start_min, end_min, days], …] (migration 0010); the three columns above keep
    # the first. Null on rows written before it: their one window is those columns.
    Column("windows", Json),
    Column("concurrency", Integer, nullable=False),
    Column("retry", Json, nullable=False),  # {max_attempts, interval_min, reasons[]}
    Column("status", String(16), nullable=False),
    Column("paused_by", String(8)),
    Column("idempotency_key", String(255)),
    Column("fingerprint", String(64)),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("started_at", BigInteger),
    Column("finished_at", BigInteger),
    UniqueConstraint("organization_id", "idempotency_key", name="uq_campaigns_idempotency_key"),
)
Index("ix_campaigns_created", campaigns.c.organization_id, campaigns.c.created_at, campaigns.c.id)

campaign_tasks = Table(
    "campaign_tasks",
    metadata,
    Column("organization_id", Id, primary_key=True),
    Column("campaign_id", Id, primary_key=True),
    Column("seq", Integer, primary_key=True),  # the row in the list as given, 0-based: its id
    Column("to_number", Phone, nullable=False),
    Column("dynamic_variables", Json, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("call_ids", Json, nullable=False),
    Column("current_call_id", Id),
    Column("last_reason", String(200)),
    Column("due_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
Index(
    "ix_campaign_tasks_feed",
    campaign_tasks.c.organization_id,
    campaign_tasks.c.campaign_id,
    campaign_tasks.c.status,
    campaign_tasks.c.due_at,
    campaign_tasks.c.seq,
)

# Migration 0017: sums of the calls in a terminal status, kept by triggers (see `store.rollups`).


def _rollup(name: str, *keys: Column[object]) -> Table:
    measures = ("calls", "dialled", "connected", "talk_ms", "talked", "cost_minor")
    return Table(
        name,
        metadata,
        Column("organization_id", Id, primary_key=True),
        *keys,
        *(Column(m, BigInteger, nullable=False) for m in measures),
    )


#: Per UTC hour (`listed_at // 3_600_000`) and status. Migration 0019: with the success rate's
#: verdict — calls whose analysis has a boolean `call_successful` (`judged`), and a true one.
call_rollup_hours = _rollup(
    "call_rollup_hours",
    Column("hour", BigInteger, primary_key=True),
    Column("status", String(100), primary_key=True),
    Column("judged", BigInteger, nullable=False, server_default="0"),
    Column("successful", BigInteger, nullable=False, server_default="0"),
)
#: Per UTC day (`listed_at // 86_400_000`), agent and A/B variant ('' = none).
call_rollup_agents = _rollup(
    "call_rollup_agents",
    Column("day", BigInteger, primary_key=True),
    Column("agent_id", String(100), primary_key=True),
    Column("variant_label", String(100), primary_key=True),
)
#: Per UTC day, disconnection reason and sentiment ('' = none).
call_rollup_outcomes = _rollup(
    "call_rollup_outcomes",
    Column("day", BigInteger, primary_key=True),
    Column("disconnection_reason", String(100), primary_key=True),
    Column("user_sentiment", String(100), primary_key=True),
)
