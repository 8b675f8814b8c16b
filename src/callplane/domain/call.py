"""The one call: its vocabularies, its state machine and the record every dialect renders.

Statuses move forward only. `queued → dialing → ringing → ongoing → ended`, with terminal
exits `not_connected`, `error` and `canceled`. The store applies every move as a conditional
update whose `WHERE status IN (...)` clause is `PREDECESSORS[new]`, so a late or duplicated
writer can never move a call backwards or out of a terminal state.

`DisconnectionReason` is Vox's 17-value vocabulary plus the few reasons Vox has no word for
(`suppressed`, `canceled_by_user`); dialects map both (see each dialect's docstring).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class CallStatus(enum.StrEnum):
    QUEUED = "queued"  #: created, waiting for its due time, the calling window or a free slot
    DIALING = "dialing"  #: claimed by a worker; the provider is placing the call
    RINGING = "ringing"  #: the callee's phone rings
    ONGOING = "ongoing"  #: answered; the agent is talking
    ENDED = "ended"  #: connected and finished
    NOT_CONNECTED = "not_connected"  #: dialled but never answered by a person (busy, no answer, …)
    ERROR = "error"  #: refused by a limit or ended by a failure
    CANCELED = "canceled"  #: withdrawn before it was answered (queued, dialling or ringing)

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_live(self) -> bool:
        """Holds a concurrency slot: the provider has (or is about to have) a line open."""
        return self in LIVE_STATUSES


TERMINAL_STATUSES = frozenset(
    {CallStatus.ENDED, CallStatus.NOT_CONNECTED, CallStatus.ERROR, CallStatus.CANCELED}
)
LIVE_STATUSES = frozenset({CallStatus.DIALING, CallStatus.RINGING, CallStatus.ONGOING})

#: For each status, the statuses a call may be in when it moves there.
PREDECESSORS: dict[CallStatus, frozenset[CallStatus]] = {
    CallStatus.QUEUED: frozenset(),
    CallStatus.DIALING: frozenset({CallStatus.QUEUED}),
    CallStatus.RINGING: frozenset({CallStatus.DIALING}),
    CallStatus.ONGOING: frozenset({CallStatus.DIALING, CallStatus.RINGING}),
    CallStatus.ENDED: frozenset({CallStatus.ONGOING}),
    CallStatus.NOT_CONNECTED: frozenset({CallStatus.DIALING, CallStatus.RINGING}),
    CallStatus.ERROR: frozenset(
        {CallStatus.QUEUED, CallStatus.DIALING, CallStatus.RINGING, CallStatus.ONGOING}
    ),
    # Dialling or ringing: an end asked for through the API hangs the attempt up (never billed).
    CallStatus.CANCELED: frozenset({CallStatus.QUEUED, CallStatus.DIALING, CallStatus.RINGING}),
}


class InvalidTransition(Exception):
    """A status change that the state machine forbids."""


def check_transition(current: CallStatus, new: CallStatus) -> None:
    if current not in PREDECESSORS[new]:
        raise InvalidTransition(f"a call cannot move from {current} to {new}")


class DisconnectionReason(enum.StrEnum):
    USER_HANGUP = "user_hangup"  #: the callee hung up
    AGENT_HANGUP = "agent_hangup"  #: the agent ended the call (end node, end_call tool, API end)
    DIAL_NO_ANSWER = "dial_no_answer"  #: rang until the ring timeout
    DIAL_FAILED = "dial_failed"  #: the carrier could not place the call
    DIAL_BUSY = "dial_busy"  #: the line was busy
    VOICEMAIL_REACHED = "voicemail_reached"  #: an answering machine picked up
    CONCURRENCY_LIMIT_REACHED = "concurrency_limit_reached"  #: waited in the queue too long for a slot
    INSUFFICIENT_BALANCE = "insufficient_balance"  #: the organisation's balance is used up
    ERROR_VOXAI = "error_voxai"  #: a platform failure (Vox's name for it)
    MAX_DURATION_REACHED = "max_duration_reached"  #: the call hit its maximum duration
    INACTIVITY = "inactivity"  #: the callee stayed silent through every re-prompt
    FLOW_ERROR = "flow_error"  #: the agent's flow broke or got stuck
    CALL_TRANSFER = "call_transfer"  #: the agent transferred the call
    ORPHANED_NO_AGENT_PICKUP = "orphaned_no_agent_pickup"  #: its worker died before it was answered
    DIAL_DECLINED = "dial_declined"  #: the callee rejected the call
    DAILY_CALL_LIMIT_REACHED = "daily_call_limit_reached"  #: the organisation's daily cap is used up
    HOURLY_CALL_LIMIT_REACHED = "hourly_call_limit_reached"  #: the organisation's hourly cap is used up
    # Reasons Vox has no value for; Vox dialects render them as null (status says enough).
    SUPPRESSED = "suppressed"  #: the number is on the do-not-call list
    CANCELED_BY_USER = "canceled_by_user"  #: canceled through the API while queued

    @property
    def is_vox(self) -> bool:
        return self not in _NON_VOX_REASONS


_NON_VOX_REASONS = frozenset({DisconnectionReason.SUPPRESSED, DisconnectionReason.CANCELED_BY_USER})


class CallType(enum.StrEnum):
    """Vox's call types (plus the two test types its call object also carries)."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"
    PHONE = "phone"
    WEB = "web"
    API = "api"
    UNIT_TEST = "unit_test"
    SCENARIO_TEST = "scenario_test"


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Sentiment(enum.StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"
    UNKNOWN = "unknown"


class TranscriptRole(enum.StrEnum):
    AGENT = "agent"
    USER = "user"
    TOOL_CALL_INVOCATION = "tool_call_invocation"
    TOOL_CALL_RESULT = "tool_call_result"
    NODE_TRANSITION = "node_transition"


#: One transcript entry, stored as plain JSON. Utterances: `{role, content, start_at, end_at}`
#: (Unix ms, on the call's clock; dialects that count from the call's start subtract it), and on
#: the callee's utterances of audio calls, where the transcriber gave them,
#: `words: [{word, start_at, end_at}]` (Unix ms too); tool calls: `{role, tool_call_id, name,
#: arguments, at}` and `{role, tool_call_id, content, successful, at}`; flow moves:
#: `{role: node_transition, from, to, at}`. Stored as the call goes (`store/progress.py`).
TranscriptEntry = dict[str, Any]


@dataclass(frozen=True, slots=True)
class AgentRef:
    """The agent a call runs: the id, the version the client asked for, the version it got."""

    agent_id: str
    requested_version: str  #: `current`, `production` or `v<N>`, echoed by Vox
    version: int  #: the immutable version the call is pinned to


@dataclass(frozen=True, slots=True)
class CallAnalysis:
    summary: str | None
    user_sentiment: Sentiment | None
    custom_analysis_data: list[dict[str, Any]] = field(default_factory=list)
    call_successful: bool | None = None
    in_voicemail: bool | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """A call as stored. Times are Unix ms; numbers are E.164; money is KRW minor units (1/100)."""

    id: str
    organization_id: str
    agent: AgentRef
    call_type: CallType
    direction: Direction
    status: CallStatus
    from_number: str | None
    to_number: str | None
    presentation_number: str | None
    created_at: int
    updated_at: int
    due_at: int
    metadata: dict[str, Any]
    dynamic_variables: dict[str, Any]
    opt_out_sensitive_data_storage: bool = False
    variant_label: str | None = None
    disconnection_reason: DisconnectionReason | None = None
    start_at: int | None = None
    answered_at: int | None = None
    end_at: int | None = None
    duration_ms: int | None = None
    #: Where the recording lies in the blob store (stored; never rendered).
    recording_key: str | None = None
    #: The signed, expiring link to it that dialects render: minted per response from
    #: `recording_key` (engine/services/recordings.py, through `Linked` in api/deps.py), never stored.
    recording_url: str | None = None
    #: None when not loaded (list pages skip it) *or* when opted out; see `transcript_loaded`.
    transcript: list[TranscriptEntry] | None = None
    transcript_loaded: bool = True
    #: The stored JSON text of `transcript`, when a list page read it (`store.listing`): a
    #: renderer whose output is that text can pass it through instead of rebuilding it (a v2
    #: page of long calls spent most of its rendering time re-encoding transcripts). Not part
    #: of the call's value: equal calls may have been read either way.
    transcript_json: str | None = field(default=None, compare=False, repr=False)
    analysis: CallAnalysis | None = None
    cost_minor: int | None = None
    error_detail: str | None = None
    attempt: int = 0
    telephony_id: str | None = None
    campaign_id: str | None = None  #: the campaign this call was made for
    campaign_task: int | None = None  #: that campaign's task (its `seq`)
    #: The id of the API request that created the call (internal: logs only, never rendered).
    request_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal
