"""`GET /recordings/{token}.wav`: a call's recording through the signed link its
`recording_url` carries (engine/services/recordings.py). No API key: the token is the
credential, until it expires. Anything else — a forged or expired token, a call without a
recording — is a 404 that says no more than "not found". A link to follow, not an API
operation: the route is left out of the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter, Response

from callplane.api.deps import ServicesDep
from callplane.api.responses import JSON
from callplane.domain.errors import NotFound
from callplane.engine.live.recorder import Recording

router = APIRouter(tags=["Recordings"])

#: The OpenAPI description of a 200 that is a recording (Vocode's recording endpoint).
#: Generators that know only `application/octet-stream` as bytes map the type onto it
#: (`openapi-python-client.yaml`).
AUDIO: dict[str, object] = {
    "content": {Recording.content_type: {"schema": {"type": "string", "format": "binary"}}},
    "description": "The recording",
}


@router.get(
    "/recordings/{token}.wav",
    summary="Download a call's recording (two-channel WAV: agent, callee)",
    response_class=Response,
    # A link handed out in `recording_url`, not an API operation: clients follow it as it is,
    # with no API key, so a generated client has no method for it.
    include_in_schema=False,
    responses={
        200: AUDIO,
        404: {"description": "Unknown, forged or expired link, or no recording"},
    },
)
def recording(token: str, services: ServicesDep) -> Response:
    try:
        audio = services.recordings.by_token(token)
    except NotFound:
        return JSON({"detail": "Not Found"}, status_code=404)
    # The link is the credential: keep it out of shared caches, let the browser keep its copy.
    return Response(audio, media_type=Recording.content_type, headers={"Cache-Control": "private"})
