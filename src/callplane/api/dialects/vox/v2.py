"""Vox v2: `POST /v2/calls/list` (seed 000) and `GET /v2/calls/{call_id}`.

The body is Retell's legacy list body. Every field is optional; filters are ANDed and each list
matches any of its values. `pagination_key` accepts the opaque `next_cursor` of the previous
page or, as Vox documents it, a plain call id (the page then starts after that call).
`total_count` counts every match, not the page (a transcript search lists at most 1,000 calls and
counts those: `store/listing.py`).
callplane additions: `filter_criteria.transcript_search`, `filter_criteria.metadata` (equality),
`filter_criteria.campaign_id[]` and `include_total` (default true).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from callplane.api.deps import CallsRead, Linked, ServicesDep
from callplane.api.dialects import common
from callplane.api.dialects.vox import parse, render
from callplane.api.dialects.vox.errors import VoxRoute
from callplane.api.dialects.vox.schemas import ERRORS, CallListV2Out, CallV2Out
from callplane.api.responses import JSON
from callplane.domain.errors import NotFound, ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.query import CallQuery, CountMode, SortField

router = APIRouter(route_class=VoxRoute, tags=["Vox v2"], responses=ERRORS)


class Threshold(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    lower_threshold: int | None = None
    upper_threshold: int | None = None


class FilterCriteria(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    agent_id: list[str] | None = None
    call_type: list[str] | None = None
    call_status: list[str] | None = None
    disconnection_reason: list[str] | None = None
    user_sentiment: list[str] | None = None
    call_from: list[str] | None = None
    call_to: list[str] | None = None
    duration: Threshold | None = Field(default=None, description="duration_ms bounds, inclusive")
    start_timestamp: Threshold | None = Field(default=None, description="Unix ms bounds, inclusive")
    metadata: dict[str, Any] | None = Field(default=None, description="callplane: metadata equality")
    transcript_search: str | None = Field(default=None, description="callplane: transcript substring")
    campaign_id: list[str] | None = Field(default=None, description="callplane: calls of these campaigns")


class ListCallsV2(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    filter_criteria: FilterCriteria | None = None
    sort_order: str = "descending"
    limit: int = Field(default=50, ge=1, le=500)
    pagination_key: str | None = None
    include_total: bool = True


def to_query(body: ListCallsV2, org: str) -> CallQuery:
    """The CallQuery of a list body; raises ValidationFailed, or NoMatch for an empty span."""
    f = body.filter_criteria or FilterCriteria()
    duration = f.duration or Threshold()
    start = f.start_timestamp or Threshold()
    where = "filter_criteria"

    def values(name: str) -> list[str]:
        return list(common.capped(getattr(f, name) or [], f"{where}.{name}"))

    return CallQuery(
        organization_id=org,
        agent_ids=parse.agent_ids(values("agent_id")),
        call_types=parse.vocabulary(values("call_type"), parse.CALL_TYPES, f"{where}.call_type"),
        statuses=parse.statuses(values("call_status"), parse.V2_STATUS_FILTER, f"{where}.call_status"),
        disconnection_reasons=parse.vocabulary(
            values("disconnection_reason"), parse.REASONS, f"{where}.disconnection_reason"
        ),
        user_sentiments=parse.vocabulary(
            values("user_sentiment"), parse.SENTIMENTS, f"{where}.user_sentiment"
        ),
        from_numbers=parse.numbers(values("call_from"), f"{where}.call_from"),
        to_numbers=parse.numbers(values("call_to"), f"{where}.call_to"),
        campaign_ids=parse.agent_ids(values("campaign_id")),
        duration_ms=parse.threshold(duration.lower_threshold, duration.upper_threshold, f"{where}.duration"),
        start_at=parse.threshold(start.lower_threshold, start.upper_threshold, f"{where}.start_timestamp"),
        metadata=parse.metadata_filters(f.metadata or {}, f"{where}.metadata"),
        search=common.search_text(f.transcript_search, f"{where}.transcript_search"),
        order=parse.sort_order(body.sort_order),
        limit=body.limit,
        include_transcript=True,
        count=CountMode.EXACT if body.include_total else CountMode.NONE,
    )


@router.post("/v2/calls/list", response_model=CallListV2Out, summary="List calls (통화 목록 조회)")
def list_calls(
    org: CallsRead, services: ServicesDep, linked: Linked, body: ListCallsV2 | None = None
) -> JSON:
    body = body or ListCallsV2()
    try:
        query = to_query(body, org)
    except common.NoMatch:
        return JSON({"calls": [], "next_cursor": None, "total_count": 0 if body.include_total else None})
    if body.pagination_key:
        query = query.next_page(_cursor(body.pagination_key, query, org, services))
    page = services.calls.list(query)
    return JSON(
        {
            "calls": [render.v2_call(linked(c)) for c in page.calls],
            "next_cursor": services.cursors.encode(query, page.next_cursor) if page.next_cursor else None,
            "total_count": page.total.value if page.total is not None else None,
        }
    )


def _cursor(token: str, query: CallQuery, org: str, services: Any) -> Any:
    call_id = normalize_uuid(token)
    if call_id is None:
        return services.cursors.decode(token, query, "pagination_key")
    try:
        after = services.calls.get(org, call_id)
    except NotFound:
        raise ValidationFailed.single("pagination_key", "names no call of this organization") from None
    return parse.cursor_from_call(after, SortField.START)


@router.get("/v2/calls/{call_id}", response_model=CallV2Out, summary="Get a call (통화 조회)")
def get_call(call_id: str, org: CallsRead, services: ServicesDep, linked: Linked) -> JSON:
    return JSON(render.v2_call(linked(services.calls.get(org, call_id))))
