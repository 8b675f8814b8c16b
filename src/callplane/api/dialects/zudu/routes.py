"""Zudu's call endpoints, over the one CallService."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request

from callplane.api.deps import Linked, PairCallsRead, PairCallsWrite, ServicesDep
from callplane.api.dialects import common
from callplane.api.dialects.zudu import parse, render
from callplane.api.dialects.zudu.errors import Envelope, ZuduRoute
from callplane.api.dialects.zudu.schemas import ZuduCallEnvelope, ZuduCallListEnvelope, ZuduCreatedEnvelope
from callplane.api.responses import JSON
from callplane.domain.errors import FieldError, ValidationFailed

router = APIRouter(route_class=ZuduRoute, tags=["Zudu"])


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Envelope, "description": "Validation error"},
    401: {"model": Envelope, "description": "Missing or invalid X-API-KEY / X-API-SECRET"},
    404: {"model": Envelope, "description": "Call not found"},
}
GET_PARAMS = (
    "page",
    "limit",
    "sort_by",
    "sort_order",
    "call_status",
    "agent_id",
    "call_type",
    "direction",
    "transcript_search",
)


def _list(listing: parse.Listing, org: str, services: Any) -> JSON:
    if listing.query is None:
        calls, has_more, total, exact = [], False, 0, True
    else:
        page = services.calls.list(listing.query)
        assert page.total is not None  # the query asks for a count
        calls, has_more, total, exact = page.calls, page.has_more, page.total.value, page.total.exact
    data = {
        "organization_id": org,
        "calls": [render.summary(c) for c in calls],
        "pagination": {
            "page": listing.page,
            "limit": listing.limit,
            "total_count": total,
            "total_pages": math.ceil(total / listing.limit),
            "has_next_page": has_more,
            "has_previous_page": listing.page > 0,
            # callplane addition: true when total_count is a lower bound (a search past its cap).
            "total_is_estimated": not exact,
        },
        "returned_count": len(calls),
        "sort_order": listing.sort_order,
        "sort_by": listing.sort_by,
        "applied_filters": listing.applied,
    }
    return JSON(render.envelope("Calls retrieved successfully", data))


@router.post(
    "/api/calls",
    response_model=ZuduCallListEnvelope,
    summary="List calls with pagination and filtering",
    responses=ERRORS,
)
def list_calls(org: PairCallsRead, services: ServicesDep, body: parse.ListCalls | None = None) -> JSON:
    listing = parse.listing(body or parse.ListCalls(), org, services.settings.max_offset)
    return _list(listing, org, services)


def _many(values: list[str]) -> list[str] | None:
    """Repeated (`?call_status=a&call_status=b`) or comma-separated (`?call_status=a,b`)."""
    out = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return out or None


@router.get(
    "/api/calls",
    response_model=ZuduCallListEnvelope,
    summary="List calls (query parameters, Zudu's defaults)",
    responses=ERRORS,
)
def list_calls_get(
    request: Request,
    org: PairCallsRead,
    services: ServicesDep,
    page: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=parse.MAX_LIMIT)] = parse.DEFAULT_LIMIT,
    sort_by: str = "start_timestamp",
    sort_order: str = "descending",
    call_status: Annotated[list[str] | None, Query()] = None,
    agent_id: Annotated[list[str] | None, Query()] = None,
    call_type: Annotated[list[str] | None, Query()] = None,
    direction: Annotated[list[str] | None, Query()] = None,
    transcript_search: str | None = None,
) -> JSON:
    unknown = [name for name in request.query_params if name not in GET_PARAMS]
    if unknown:
        raise ValidationFailed([FieldError(n, "is not a known query parameter", GET_PARAMS) for n in unknown])
    body = parse.ListCalls(
        page=page,
        limit=limit,
        sort_by=sort_by,
        sort_order=sort_order,
        filter_criteria=parse.FilterCriteria(
            call_status=_many(call_status or []),
            agent_id=_many(agent_id or []),
            call_type=_many(call_type or []),
            direction=_many(direction or []),
            transcript_search=transcript_search,
        ),
    )
    return _list(parse.listing(body, org, services.settings.max_offset), org, services)


@router.post(
    "/api/calls/create-phone-call",
    response_model=ZuduCreatedEnvelope,
    summary="Create a phone call (dialled by callplane's workers)",
    responses=ERRORS,
)
def create_phone_call(
    body: parse.CreatePhoneCall,
    org: PairCallsWrite,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSON:
    try:
        created = services.calls.create(org, parse.new_call(body, idempotency_key))
    except ValidationFailed as exc:
        raise common.renamed(exc, parse.CORE_FIELDS) from None
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return JSON(
        render.envelope("Phone call created and initiated successfully", render.created(created.call)),
        headers=headers,
    )


@router.get("/api/calls/{call_id}", response_model=ZuduCallEnvelope, summary="Get a call", responses=ERRORS)
def get_call(call_id: str, org: PairCallsRead, services: ServicesDep, linked: Linked) -> JSON:
    call = linked(services.calls.get(org, call_id))
    return JSON(render.envelope("Call retrieved successfully", render.detail(call)))
