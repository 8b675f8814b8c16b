"""The telephony provider protocol: place a call and hand back its live session.

A provider turns a `DialRequest` into a `Transport` (see `live/session.py`): the transport first
reports carrier progress (`Carrier`: ringing, then one final status — answered by a person,
answered by a machine, busy, no answer, declined, failed), then carries the conversation as
events and commands. The simulated line speaks text; a carrier's media stream speaks audio
through a speech pipeline; the agent runtimes never know which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from callplane.domain.voice import VoiceSpec
from callplane.engine.live.session import Transport
from callplane.engine.live.speech.pipeline import Tee


@dataclass(frozen=True, slots=True)
class DialRequest:
    call_id: str
    attempt: int  #: with call_id, the provider-side idempotency key: one dial per attempt
    from_number: str  #: E.164
    to_number: str
    presentation_number: str | None
    ring_timeout_s: float
    voice: VoiceSpec = field(default_factory=VoiceSpec)  #: the agent version's speech engines
    #: Where the speech pipeline copies the line's audio (the call's recorder); None: nothing
    #: is recorded (an opted-out call). A text-only line has no audio to copy.
    tee: Tee | None = None
    organization_id: str = ""  #: whose call: a carrier's later callbacks are filed under it
    #: An incoming call the carrier is already holding (from_number is the caller's, to_number
    #: ours): the provider answers it instead of dialling.
    inbound: bool = False


class ProviderUnavailable(Exception):
    """The provider cannot place calls as configured (missing credentials, no public URL): the
    call ends as an error with this message, and nothing was dialled."""


class Provider(Protocol):
    name: str

    async def dial(self, request: DialRequest) -> Transport: ...


class CarrierProvider(Provider, Protocol):
    """A provider a deployment configures by name (registry.py): it also cleans up after a dead
    worker and closes what it holds."""

    async def hang_up_orphan(self, telephony_id: str) -> None:
        """End a call this provider placed for a worker that has died; harmless when it is over."""
        ...

    async def aclose(self) -> None:
        """Release what the provider holds open (HTTP clients)."""
        ...
