"""Response shapes of the admin and operator APIs, for the OpenAPI document (handlers return the
pre-rendered JSON of `api/admin.py`'s views; these describe exactly those views)."""

from __future__ import annotations

from pydantic import BaseModel


class CallingWindowOut(BaseModel):
    timezone: str
    start: str  #: "HH:MM"
    end: str
    days: str  #: ISO weekdays, "12345" = Monday to Friday


class OrganizationOut(BaseModel):
    id: str
    name: str
    created_at: int
    calling_window: CallingWindowOut
    max_concurrent_calls: int
    max_queue_wait_s: int | None
    hourly_call_limit: int | None
    daily_call_limit: int | None
    balance: str | None  #: KRW decimal string; null: postpaid
    rate_per_minute: str


class KeyOut(BaseModel):
    id: str
    kind: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: int
    revoked_at: int | None
    last_used_at: int | None


class IssuedKeyOut(BaseModel):
    id: str
    kind: str
    name: str
    key: str  #: shown this once
    secret: str | None  #: the key pair's secret, shown this once
    scopes: list[str]


class AgentVersionOut(BaseModel):
    version: int
    kind: str
    description: str
    created_at: int


class AdminAgentOut(BaseModel):
    id: str
    name: str
    current_version: int
    production_version: int | None
    created_at: int
    versions: list[AgentVersionOut] | None = None  #: on a single agent's read


class AddedVersionOut(BaseModel):
    agent_id: str
    version: int


class PublishedOut(BaseModel):
    agent_id: str
    production_version: int
    previous_production_version: int | None


class NumberOut(BaseModel):
    number: str  #: Korean domestic digits
    e164: str
    label: str
    provider: str  #: the carrier the number's calls go through (`simulated`, `twilio`)
    inbound_agent_id: str | None  #: the agent that answers calls to it; null: they are rejected


class PresentationNumberOut(BaseModel):
    number: str
    e164: str
    approved: bool


class VariantOut(BaseModel):
    agent_id: str
    agent_version: str
    weight: int
    label: str


class TrafficSplitOut(BaseModel):
    from_number: str
    variants: list[VariantOut]


class SuppressionOut(BaseModel):
    number: str
    e164: str
    reason: str
    created_at: int
