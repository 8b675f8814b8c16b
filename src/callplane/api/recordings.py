"""`GET /recordings/{token}.wav`: a call's recording through the signed link its
`recording_url` carries (engine/services/recordings.py). No API key: the token is the
credential, until it expires. Anything else — a forged or expired token, a call without a
recording — is a 404 that says no more than "not found". A link to follow, not an API
operation: the route is left out of the OpenAPI document.

Single byte ranges (`Range: bytes=a-b`, `a-`, `-n`) are answered with a 206: a browser's
<audio> asks for them to seek, and without a 206 Chromium cannot move `currentTime` at all.
Several ranges in one request are answered with the whole file (a server may ignore `Range`);
a range past the end is a 416 naming the length."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response

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
def recording(token: str, request: Request, services: ServicesDep) -> Response:
    try:
        audio = services.recordings.by_token(token)
    except NotFound:
        return JSON({"detail": "Not Found"}, status_code=404)
    # The link is the credential: keep it out of shared caches, let the browser keep its copy.
    headers = {"Cache-Control": "private", "Accept-Ranges": "bytes"}
    wanted = byte_range(request.headers.get("range"), len(audio))
    if wanted is None:
        return Response(audio, media_type=Recording.content_type, headers=headers)
    if wanted == UNSATISFIABLE:
        headers["Content-Range"] = f"bytes */{len(audio)}"
        return Response(status_code=416, headers=headers)
    first, last = wanted
    headers["Content-Range"] = f"bytes {first}-{last}/{len(audio)}"
    return Response(
        audio[first : last + 1], status_code=206, media_type=Recording.content_type, headers=headers
    )


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
#: `byte_range`'s answer for a range that starts past the end of the file (a 416).
UNSATISFIABLE = (-1, -1)


def byte_range(header: str | None, length: int) -> tuple[int, int] | None:
    """The one byte range (first, last; inclusive) `header` asks of `length` bytes; None for the
    whole file (no header, a header we do not read, several ranges); `UNSATISFIABLE`."""
    found = _RANGE.fullmatch((header or "").strip())
    if found is None:
        return None
    start, end = found.groups()
    if not start:
        if not end:
            return None
        # `-n`: the last n bytes (all of them when the file is shorter).
        suffix = int(end)
        return (max(0, length - suffix), length - 1) if suffix and length else UNSATISFIABLE
    first = int(start)
    last = min(int(end), length - 1) if end else length - 1
    if first >= length:
        return UNSATISFIABLE
    return None if last < first else (first, last)
