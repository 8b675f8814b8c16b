"""Vocode's call endpoints, over the one CallService."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from callplane.api.deps import CallsRead, CallsWrite, ServicesDep
from callplane.api.dialects import common
from callplane.api.dialects.vocode import parse, render
from callplane.api.dialects.vocode.errors import Detail, VocodeRoute
from callplane.api.dialects.vocode.schemas import VocodeCallOut, VocodeCallPageOut
from callplane.api.recordings import AUDIO
from callplane.api.responses import JSON
from callplane.domain.errors import Conflict, ValidationFailed
from callplane.domain.query import CallQuery, CountMode, SortOrder
from callplane.engine.live.recorder import Recording

router = APIRouter(route_class=VocodeRoute, tags=["Vocode"])


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Detail, "description": "Missing or invalid bearer token"},
    404: {"model": Detail, "description": "Call not found"},
    422: {"model": Detail, "description": "Validation error (FastAPI's shape)"},
}


@router.get("/v1/calls/list", response_model=VocodeCallPageOut, summary="List calls", responses=ERRORS)
def list_calls(
    org: CallsRead,
    services: ServicesDep,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=parse.MAX_SIZE)] = parse.DEFAULT_SIZE,
    sort_column: str | None = None,
    sort_desc: bool = False,
) -> JSON:
    offset = (page - 1) * size
    common.check_offset(offset, services.settings.max_offset, "page")
    query = CallQuery(
        organization_id=org,
        sort=parse.sort_column(sort_column),
        order=SortOrder.DESC if sort_desc else SortOrder.ASC,
        limit=size,
        offset=offset,
        include_transcript=True,
        count=CountMode.EXACT,
    )
    found = services.calls.list(query)
    assert found.total is not None  # the query asks for a count
    return JSON(
        {
            "items": [render.normalized_call(c) for c in found.calls],
            "page": page,
            "size": size,
            "has_more": found.has_more,
            "total": found.total.value,
            "total_is_estimated": not found.total.exact,
        }
    )


@router.get("/v1/calls", response_model=VocodeCallOut, summary="Get a call", responses=ERRORS)
def get_call(id: Annotated[str, Query()], org: CallsRead, services: ServicesDep) -> JSON:
    return JSON(render.full_call(services.calls.get(org, id)))


@router.post(
    "/v1/calls/create", response_model=VocodeCallOut, summary="Create an outbound call", responses=ERRORS
)
def create_call(
    body: parse.CreateCall,
    org: CallsWrite,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSON:
    try:
        created = services.calls.create(org, parse.new_call(body, idempotency_key))
    except ValidationFailed as exc:
        raise common.renamed(exc, parse.CORE_FIELDS) from None
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return JSON(render.full_call(created.call), headers=headers)


@router.post("/v1/calls/end", response_model=VocodeCallOut, summary="End a call", responses=ERRORS)
def end_call(id: Annotated[str, Query()], org: CallsWrite, services: ServicesDep) -> JSON:
    try:
        call = services.calls.cancel(org, id)
    except Conflict:
        # Ending a call that has already ended leaves it ended: answer it as it is.
        call = services.calls.get(org, id)
    return JSON(render.full_call(call))


@router.get(
    "/v1/calls/recording",
    summary="Download a call's recording (two-channel WAV: agent, callee)",
    response_class=Response,
    responses={**ERRORS, 200: AUDIO},
)
def get_recording(id: Annotated[str, Query()], org: CallsRead, services: ServicesDep) -> Response:
    # `recording_available` says whether there is one; without, this is Vocode's 404.
    return Response(services.recordings.audio(org, id), media_type=Recording.content_type)
