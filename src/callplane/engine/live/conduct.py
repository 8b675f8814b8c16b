"""The seam between the durable machinery (worker, leases, database) and the live call.

`Conductor` places one call through a telephony provider and lets the agent runtime hold the
conversation. It knows nothing of the database: it reports progress through `CallHooks`
(implemented by the worker, which turns each status report into a forward-only status change
and stores the record as it grows, off the call's loop) and returns an `Outcome` that the
worker stores in the terminal transition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from callplane.domain.agent import AgentVersion
from callplane.domain.call import Call, CallStatus, DisconnectionReason, TranscriptEntry
from callplane.engine.live.recorder import Recording


class CallHooks(Protocol):
    """What the conductor tells the worker while a call runs."""

    async def ringing(self, telephony_id: str) -> None:
        """The callee's phone rings."""

    async def answered(self, at_ms: int) -> None:
        """A person (or a machine the agent talks to) answered: the call is ongoing."""

    def end_requested(self) -> bool:
        """True once a client asked, through the API, to end this call."""

    def progress(self, transcript: list[TranscriptEntry], collected: dict[str, Any]) -> None:
        """The record so far (copies): kept so a call cut short keeps what was said. Returns at
        once — storing it is the receiver's business, never on the call's way."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a call ended. `status` is terminal: ENDED, NOT_CONNECTED, ERROR, or CANCELED (an end
    asked for through the API before the callee answered)."""

    status: CallStatus
    reason: DisconnectionReason
    ended_at: int
    answered_at: int | None = None
    telephony_id: str | None = None
    transcript: list[TranscriptEntry] = field(default_factory=list)
    #: Values the agent collected during the call (flow `set`, LLM tool arguments): analysis input.
    collected: dict[str, Any] = field(default_factory=dict)
    error_detail: str | None = None
    #: Both sides' audio (a connected audio call that is not opted out); the worker stores it.
    recording: Recording | None = None
    #: Where the worker stored `recording` (engine/blobs); the conductor never sets it.
    recording_key: str | None = None


class Conductor(Protocol):
    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        """Dial, converse, hang up. Never raises for a call-level failure: returns an Outcome."""
        ...
