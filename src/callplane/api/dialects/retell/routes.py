"""Retell's call endpoints, over the one CallService."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from callplane.api.deps import CallsRead, CallsWrite, Linked, ServicesDep
from callplane.api.dialects import common
from callplane.api.dialects.retell import filters, parse, render
from callplane.api.dialects.retell.errors import ErrorOut, RetellRoute
from callplane.api.dialects.retell.schemas import RetellCallListOut, RetellCallOut
from callplane.api.responses import JSON
from callplane.domain.errors import NotFound, ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.query import CallQuery, CountMode, Cursor, SortField

router = APIRouter(route_class=RetellRoute, tags=["Retell"])


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid input, or a stop of a call that already ended"},
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    422: {"model": ErrorOut, "description": "No such call under this API key"},
}


@router.post(
    "/v2/create-phone-call",
    status_code=201,
    response_model=RetellCallOut,
    summary="Create an outbound phone call",
    responses=ERRORS,
)
def create_phone_call(
    body: parse.CreatePhoneCall,
    org: CallsWrite,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSON:
    request = parse.new_call(body, idempotency_key)
    try:
        created = services.calls.create(org, request)
    except ValidationFailed as exc:
        raise common.renamed(exc, parse.CORE_FIELDS) from None
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return JSON(render.call_object(created.call), status_code=201, headers=headers)


@router.get(
    "/v2/get-call/{call_id}", response_model=RetellCallOut, summary="Retrieve a call", responses=ERRORS
)
def get_call(call_id: str, org: CallsRead, services: ServicesDep, linked: Linked) -> JSON:
    return JSON(render.call_object(linked(services.calls.get(org, call_id))))


@router.post("/v2/stop-call/{call_id}", status_code=204, summary="Stop a call", responses=ERRORS)
def stop_call(call_id: str, org: CallsWrite, services: ServicesDep) -> Response:
    services.calls.cancel(org, call_id)
    return Response(status_code=204)


@router.post(
    "/v2/list-calls",
    response_model=list[RetellCallOut],
    summary="List calls (legacy: a bare array)",
    responses=ERRORS,
)
def list_calls_v2(
    org: CallsRead, services: ServicesDep, linked: Linked, body: parse.LegacyList | None = None
) -> JSON:
    body = body or parse.LegacyList()
    try:
        query = CallQuery(
            organization_id=org,
            order=parse.order(body.sort_order),
            limit=body.limit,
            include_transcript=True,
            **parse.legacy_filters(body.filter_criteria or parse.LegacyFilter()),
        )
    except common.NoMatch:
        return JSON([])
    if body.pagination_key:
        query = query.next_page(_after_call(body.pagination_key, org, services))
    page = services.calls.list(query)
    return JSON([render.call_object(linked(c)) for c in page.calls])


def _after_call(call_id: str, org: str, services: Any) -> Cursor:
    """Retell's legacy cursor is the last call id of the previous page (exclusive)."""
    canonical = normalize_uuid(call_id)
    try:
        after = services.calls.get(org, canonical or call_id)
    except NotFound:
        raise ValidationFailed.single("pagination_key", "names no call of this organization") from None
    value = after.start_at if after.start_at is not None else after.created_at
    return Cursor(value, after.id)


class ListCalls(BaseModel):
    """`POST /v3/list-calls`."""

    model_config = ConfigDict(strict=True, extra="forbid")
    filter_criteria: dict[str, Any] | None = Field(
        default=None, description="Retell's CallFilter; see the Retell dialect docs for what is supported."
    )
    sort_order: Literal["ascending", "descending"] = "descending"
    limit: int = Field(default=50, ge=1, le=parse.MAX_LIMIT)
    skip: int | None = Field(default=None, ge=0)
    pagination_key: str | None = None
    include_total: bool = False


@router.post("/v3/list-calls", response_model=RetellCallListOut, summary="List calls", responses=ERRORS)
def list_calls_v3(
    org: CallsRead, services: ServicesDep, linked: Linked, body: ListCalls | None = None
) -> JSON:
    body = body or ListCalls()
    if body.skip is not None and body.pagination_key is not None:
        raise ValidationFailed.single("skip", "cannot be combined with pagination_key")
    common.check_offset(body.skip or 0, services.settings.max_offset, "skip")
    try:
        query = CallQuery(
            organization_id=org,
            sort=SortField.START,
            order=parse.order(body.sort_order),
            limit=body.limit,
            offset=body.skip or 0,
            count=CountMode.EXACT if body.include_total else CountMode.NONE,
            **filters.query_arguments(body.filter_criteria),
        )
    except common.NoMatch:
        return JSON({"items": [], "has_more": False, **({"total": 0} if body.include_total else {})})
    if body.pagination_key:
        query = query.next_page(services.cursors.decode(body.pagination_key, query, "pagination_key"))
    page = services.calls.list(query)
    out: dict[str, Any] = {
        "items": [render.call_object(linked(c), with_transcript=False) for c in page.calls],
        "has_more": page.has_more,
    }
    if page.next_cursor is not None:
        out["pagination_key"] = services.cursors.encode(query, page.next_cursor)
    if page.total is not None:
        # Retell has no "estimated" flag; callplane says so in its own key.
        out["total"] = page.total.value
        out["total_is_estimated"] = not page.total.exact
    return JSON(out)
