"""Vox v3: `POST /v3/calls`, `GET /v3/calls/{id}`, `GET /v3/calls` (seed 001).

`GET /v3/calls` takes single-valued query parameters and refuses any other parameter with a
400 that lists the allowed ones, as Vox does. callplane adds three: `search` (alias
`transcript_search`, a case-insensitive transcript substring), `include_total` (default true;
false skips the count and answers `total_count: null`) and `metadata.<key>=<value>` equality
filters (values compare as strings) and `campaign_id` (calls made for that campaign).
`start_at_after`/`start_at_before` are exclusive bounds.

`POST /v3/calls` refuses a field the documented request (seed 001) does not define — at the top
level or inside `agent` — with a 400 `VALIDATION_ERROR` naming it: Vox documents no leniency, its
live API refuses unknown query parameters the same way, and a misspelled `dynamic_variabels` must
not be dropped silently. `Idempotency-Key`: a repeat with the same body answers the same call
(201, `Idempotent-Replayed: true`), also while the first is being created (it waits for it);
another body with the key is a 422 `IDEMPOTENCY_KEY_REUSED`.

Vox v3 has no way to stop a call; callplane adds `POST /v3/calls/{id}/cancel`: a queued call
becomes `canceled`; a dialling or ringing one is hung up by its worker within a second and also
ends `canceled` (never billed); an answered one is ended by its worker (`agent_hangup`); a
finished one is 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from callplane.api.deps import CallsRead, CallsWrite, Linked, ServicesDep
from callplane.api.dialects import common
from callplane.api.dialects.vox import parse, render
from callplane.api.dialects.vox.errors import VoxRoute
from callplane.api.dialects.vox.schemas import ERRORS, CallListV3Out, CallV3Out
from callplane.api.responses import JSON
from callplane.domain import bounds
from callplane.domain.errors import FieldError, ValidationFailed
from callplane.domain.query import CallQuery, CountMode, Range

router = APIRouter(route_class=VoxRoute, tags=["Vox v3"], responses=ERRORS)

LIST_PARAMS = (
    "agent_id",
    "call_from",
    "call_to",
    "call_type",
    "cursor",
    "disconnection_reason",
    "limit",
    "sort_order",
    "start_at_after",
    "start_at_before",
    "status",
    "search",
    "transcript_search",
    "include_total",
    "campaign_id",
)


@router.post("/v3/calls", status_code=201, response_model=CallV3Out, summary="Create an outbound call")
def create_call(
    body: parse.CreateCallV3,
    org: CallsWrite,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSON:
    created = services.calls.create(org, parse.new_call(body, idempotency_key))
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return JSON(render.v3_call(created.call), status_code=201, headers=headers)


@router.post(
    "/v3/calls/{call_id}/cancel",
    response_model=CallV3Out,
    summary="Cancel a queued call or end a live one (callplane extension)",
)
def cancel_call(call_id: str, org: CallsWrite, services: ServicesDep) -> JSON:
    return JSON(render.v3_call(services.calls.cancel(org, call_id)))


@router.get("/v3/calls/{call_id}", response_model=CallV3Out, summary="Get a call")
def get_call(call_id: str, org: CallsRead, services: ServicesDep, linked: Linked) -> JSON:
    return JSON(render.v3_call(linked(services.calls.get(org, call_id))))


def _single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ValidationFailed.single(name, "takes a single value")
    return values[0] if values else None


def _int(value: str | None, name: str, low: int | None = None, high: int | None = None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValidationFailed.single(name, "must be an integer") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValidationFailed.single(name, f"must be between {low} and {high}")
    return number


def _bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value.lower() not in ("true", "false", "1", "0"):
        raise ValidationFailed.single(name, "must be true or false")
    return value.lower() in ("true", "1")


def list_query(request: Request, org: str) -> tuple[CallQuery, str | None]:
    unknown = [
        name
        for name in request.query_params
        if name not in LIST_PARAMS and not (name.startswith("metadata.") and len(name) > len("metadata."))
    ]
    if unknown:
        raise ValidationFailed(
            [
                FieldError(name, "is not a known query parameter", [*LIST_PARAMS, "metadata.<key>"])
                for name in unknown
            ]
        )
    p = {name: _single(request, name) for name in LIST_PARAMS}
    # Exclusive bounds: one past the last instant a date can show is still a valid "before".
    after = _int(p["start_at_after"], "start_at_after", -1, bounds.MAX_UNIX_MS)
    before = _int(p["start_at_before"], "start_at_before", 1, bounds.MAX_UNIX_MS + 1)
    if after is not None and before is not None and after + 1 > before - 1:
        raise ValidationFailed.single("start_at_before", "must be later than start_at_after")
    search_field = "search" if p["search"] is not None else "transcript_search"
    metadata = [
        (name[len("metadata.") :], request.query_params[name])
        for name in request.query_params
        if name.startswith("metadata.")
    ]
    query = CallQuery(
        organization_id=org,
        agent_ids=parse.agent_ids([p["agent_id"]]) if p["agent_id"] else (),
        statuses=parse.statuses([p["status"]], parse.V3_STATUS_FILTER, "status") if p["status"] else (),
        call_types=parse.vocabulary([p["call_type"]], parse.CALL_TYPES, "call_type")
        if p["call_type"]
        else (),
        disconnection_reasons=(
            parse.vocabulary([p["disconnection_reason"]], parse.REASONS, "disconnection_reason")
            if p["disconnection_reason"]
            else ()
        ),
        from_numbers=parse.numbers([p["call_from"]], "call_from") if p["call_from"] else (),
        to_numbers=parse.numbers([p["call_to"]], "call_to") if p["call_to"] else (),
        campaign_ids=parse.agent_ids([p["campaign_id"]]) if p["campaign_id"] else (),
        start_at=Range(after + 1 if after is not None else None, before - 1 if before is not None else None),
        metadata=common.metadata_filter(metadata, "metadata"),
        search=common.search_text(p[search_field], search_field),
        order=parse.sort_order(p["sort_order"]) if p["sort_order"] else parse.SORT_ORDERS["desc"],
        limit=_int(p["limit"], "limit", 1, 100) or 50,
        count=CountMode.NONE if _bool(p["include_total"], "include_total") is False else CountMode.EXACT,
    )
    return query, p["cursor"]


@router.get(
    "/v3/calls",
    response_model=CallListV3Out,
    summary="List calls",
    openapi_extra={
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in LIST_PARAMS
        ]
    },
)
def list_calls(request: Request, org: CallsRead, services: ServicesDep, linked: Linked) -> JSON:
    query, token = list_query(request, org)
    if token:
        query = query.next_page(services.cursors.decode(token, query, "cursor"))
    page = services.calls.list(query)
    return JSON(
        {
            "items": [render.v3_call(linked(c), with_transcript=False) for c in page.calls],
            "total_count": page.total.value if page.total is not None else None,
            "next_cursor": services.cursors.encode(query, page.next_cursor) if page.next_cursor else None,
        }
    )
