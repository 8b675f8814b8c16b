"""Recordings: stored by the worker, reached through signed links, purged after retention.

A call's recording lies in the blob store under `{organization_id}/{call_id}.wav`; the call row
keeps that key. Clients get a `recording_url` minted each time a call is rendered:
`{base}/recordings/{token}.wav`, where the token is signed with a key derived from the
deployment's server secret (the one cursors and dashboard cookies derive theirs from) and
carries the organisation, the call and an expiry. Anyone holding the URL may fetch the audio
until it expires, without the API key; a forged, altered or expired token, a call without a
recording, an opted-out call — all answer 404, the same as a call that does not exist, so a
token reveals nothing beyond its own call. Because the token names the organisation and the
lookup is scoped by it, a token can never reach another organisation's call.

Webhooks. A `call_ended` event's body is stored once and sent for days of retries, longer than a
link lives; so the stored body holds a marker where `recording_url` goes (`marked`, when the
event is written) and the relay swaps in a freshly minted link at every attempt (`fill_links`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import orjson
from itsdangerous import BadSignature, URLSafeSerializer

from callplane.config import Settings
from callplane.domain.call import Call
from callplane.domain.errors import NotFound
from callplane.domain.ids import normalize_uuid
from callplane.engine import blobs as blob_stores
from callplane.engine.blobs import BlobStore
from callplane.engine.live.recorder import Recording
from callplane.engine.services.cursors import Cursors
from callplane.store import calls as call_store
from callplane.store import recordings as recording_store
from callplane.store.db import Database

log = logging.getLogger(__name__)

PURGE_BATCH = 200
#: `recording_url` in a stored webhook body: the scheme no client can fetch, then org/call.
LINK_MARKER = "callplane-recording:"
_MARKED = re.compile(r'"callplane-recording:([^"/]+)/([^"/]+)"')


def public_base(settings: Settings) -> str:
    """Where clients reach this deployment when there is no request to ask (the CLI)."""
    return settings.public_url or f"http://{settings.host}:{settings.port}"


def marked(call: Call) -> Call:
    """The call as a stored webhook body renders it: a marker for its recording link, if any."""
    if call.recording_key is None or call.opt_out_sensitive_data_storage:
        return call
    return replace(call, recording_url=f"{LINK_MARKER}{call.organization_id}/{call.id}")


def blob_key(organization_id: str, call_id: str) -> str:
    return f"{organization_id}/{call_id}.wav"


def store(blobs: BlobStore, organization_id: str, call_id: str, recording: Recording) -> str:
    """Stream the WAV into the store (blocking: the worker runs this in a thread), free the
    recording's spool files, and return its key."""
    key = blob_key(organization_id, call_id)
    try:
        with recording.open() as wav:
            blobs.put(key, wav, Recording.content_type)
    finally:
        recording.close()
    return key


@dataclass
class Recordings:
    db: Database
    blobs: BlobStore
    cursors: Cursors
    now: Callable[[], int]
    ttl_s: int = 86_400
    #: `CALLPLANE_PUBLIC_URL`: the address links are minted against; None: the request's own.
    public_url: str | None = None
    _signer: URLSafeSerializer | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        db: Database,
        cursors: Cursors,
        now: Callable[[], int],
        blobs: BlobStore | None = None,
    ) -> Recordings:
        return cls(
            db,
            blobs or blob_stores.from_settings(settings),
            cursors,
            now,
            settings.recordings_url_ttl_s,
            settings.public_url,
        )

    def _serializer(self) -> URLSafeSerializer:
        if self._signer is None:
            key = self.cursors.derive(b"callplane recording v1")
            self._signer = URLSafeSerializer(key, salt=b"recording")
        return self._signer

    def token(self, organization_id: str, call_id: str, expires_at: int) -> str:
        return self._serializer().dumps([organization_id, call_id, expires_at])

    def url(self, base_url: str, call: Call) -> str | None:
        if call.recording_key is None or call.opt_out_sensitive_data_storage:
            return None
        token = self.token(call.organization_id, call.id, self.now() + self.ttl_s * 1000)
        return f"{base_url.rstrip('/')}/recordings/{token}.wav"

    def linked(self, request_base: str) -> Callable[[Call], Call]:
        """`with_url` against the deployment's public address — `CALLPLANE_PUBLIC_URL`, else the
        address the request came to."""
        return functools.partial(self.with_url, self.public_url or request_base)

    def with_url(self, base_url: str, call: Call) -> Call:
        """The call as dialects render it: `recording_url` minted from its stored key."""
        url = self.url(base_url, call)
        return call if url == call.recording_url else replace(call, recording_url=url)

    def fill_links(self, base_url: str, body: str) -> str:
        """A stored webhook body as it is sent now: each `marked` link replaced by a fresh one
        (a JSON string, whichever dialect serialised the body)."""
        if LINK_MARKER not in body:
            return body

        def link(found: re.Match[str]) -> str:
            token = self.token(found[1], found[2], self.now() + self.ttl_s * 1000)
            return orjson.dumps(f"{base_url.rstrip('/')}/recordings/{token}.wav").decode()

        return _MARKED.sub(link, body)

    def by_token(self, token: str) -> bytes:
        """The audio a recording URL points at; NotFound for anything else."""
        try:
            organization_id, call_id, expires_at = self._serializer().loads(token)
        except (BadSignature, ValueError, TypeError):
            raise NotFound("no such recording") from None
        if not isinstance(expires_at, int) or expires_at < self.now():
            raise NotFound("no such recording")
        return self.audio(str(organization_id), str(call_id))

    def audio(self, organization_id: str, call_id: str) -> bytes:
        """A call's recording for its own organisation (Vocode's recording endpoint)."""
        canonical = normalize_uuid(call_id)
        with self.db.read() as conn:
            call = (
                call_store.get_call(conn, organization_id, canonical, with_transcript=False)
                if canonical
                else None
            )
        if call is None:
            raise NotFound(f"call {call_id} not found")
        if call.recording_key is None or call.opt_out_sensitive_data_storage:
            raise NotFound(f"call {call_id} has no recording")
        audio = self.blobs.get(call.recording_key)
        if audio is None:
            raise NotFound(f"call {call_id} has no recording")
        return audio


def purge(db: Database, blobs: BlobStore, before: int) -> int:
    """Delete the recordings of calls that ended before `before` (Unix ms) — each blob first,
    then the call's key, so a failure leaves a key to retry rather than a blob nobody can find.
    Blocking (run it in a thread); returns how many went."""
    purged = 0
    while True:
        with db.read() as conn:
            batch = recording_store.ended_before(conn, before, PURGE_BATCH)
        for stored in batch:
            blobs.delete(stored.key)
            with db.write() as conn:
                recording_store.forget(conn, stored)
        purged += len(batch)
        if len(batch) < PURGE_BATCH:
            return purged
