"""Campaigns: one list of callees, called by one agent from one number, paced and retried.

A campaign is a source of calls, not a second engine. Its tasks wait in their own table; a
feeder turns a task into an ordinary queued call (the `POST /v3/calls` path) only when the
campaign has a free slot of its own concurrency, so the calls table never holds more than
`concurrency` of a campaign's calls at once. Everything here is pure: the task's fate after a
call ends (`after_call`), the campaign's fate when no task is left (`final_status`).

Task statuses: `pending` (waiting to be called, first time or for a retry at `due_at`), `calling`
(its current call is queued or live), and the finals `completed` (a call connected), `failed`
(no attempt connected, or it could not be called at all) and `canceled`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.errors import FieldError, ValidationFailed
from callplane.domain.org import CallingWindow
from callplane.domain.template import variables_in

MIN_CONCURRENCY = 1
MAX_CONCURRENCY = 100
#: Attempts per task (the first call included); Zudu's `retry_config.max_attempts` reads the same.
MAX_ATTEMPTS = 10
#: Minutes between a failed attempt and its retry: at most a week.
MAX_RETRY_INTERVAL_MIN = 7 * 24 * 60
#: A queued call of a paused campaign is due at the end of time; resuming makes it due now.
PAUSED_DUE_AT = 253_402_300_799_999
#: Calling windows per campaign (Vox's and Retell's `call_time_window.windows[]`).
MAX_WINDOWS = 10


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING = "pending"  #: waiting for its scheduled start
    ONGOING = "ongoing"
    PAUSED = "paused"
    SUCCESS = "success"
    FAIL = "fail"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in (CampaignStatus.SUCCESS, CampaignStatus.FAIL, CampaignStatus.CANCELED)

    @property
    def feeds(self) -> bool:
        """The feeder looks at it: it may start, or it is running."""
        return self in (CampaignStatus.PENDING, CampaignStatus.ONGOING)


class PausedBy(enum.StrEnum):
    USER = "user"
    SYSTEM = "system"


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    CALLING = "calling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED)


#: The reasons a retry may be configured for (Vox's names; Zudu's no_answer|busy|voicemail).
RETRYABLE = (
    DisconnectionReason.DIAL_NO_ANSWER,
    DisconnectionReason.DIAL_BUSY,
    DisconnectionReason.VOICEMAIL_REACHED,
)


@dataclass(frozen=True, slots=True)
class RetryRule:
    """Call a task again after one of `reasons`, `interval_min` later, up to `max_attempts` calls
    in all (the first included; 1 = never retry). The retry still waits for the window."""

    max_attempts: int = 1
    interval_min: int = 60
    reasons: tuple[DisconnectionReason, ...] = RETRYABLE

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            raise ValidationFailed.single("retry.max_attempts", f"must be between 1 and {MAX_ATTEMPTS}")
        if not 0 <= self.interval_min <= MAX_RETRY_INTERVAL_MIN:
            raise ValidationFailed.single(
                "retry.interval_min", f"must be between 0 and {MAX_RETRY_INTERVAL_MIN}"
            )
        wrong = [r for r in self.reasons if r not in RETRYABLE]
        if wrong:
            raise ValidationFailed.single(
                "retry.reasons", f"{wrong[0].value!r} cannot be retried", [r.value for r in RETRYABLE]
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "interval_min": self.interval_min,
            "reasons": [r.value for r in self.reasons],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetryRule:
        return cls(
            int(data["max_attempts"]),
            int(data["interval_min"]),
            tuple(DisconnectionReason(r) for r in data["reasons"]),
        )


@dataclass(frozen=True, slots=True)
class Windows:
    """A campaign's calling hours: one or more windows, each with its own days, in one time
    zone. Open when any of them is; it opens next when the first of them does."""

    spans: tuple[CallingWindow, ...] = (CallingWindow(),)

    def __post_init__(self) -> None:
        if not 1 <= len(self.spans) <= MAX_WINDOWS:
            raise ValidationFailed.single("call_time_window.windows", f"needs 1 to {MAX_WINDOWS} windows")
        if len({s.timezone for s in self.spans}) > 1:
            raise ValidationFailed.single("call_time_window.windows", "every window has one time zone")

    @property
    def timezone(self) -> str:
        return self.spans[0].timezone

    def is_open(self, now_ms: int) -> bool:
        return any(s.is_open(now_ms) for s in self.spans)

    def next_open(self, now_ms: int) -> int:
        """`now_ms` when open, otherwise the Unix ms of the next opening of any window."""
        return min(s.next_open(now_ms) for s in self.spans)

    def to_json(self) -> list[list[Any]]:
        return [[s.start_min, s.end_min, s.days] for s in self.spans]

    @classmethod
    def from_json(cls, timezone: str, data: list[list[Any]]) -> Windows:
        return cls(tuple(CallingWindow(timezone, int(a), int(b), str(d)) for a, b, d in data))


@dataclass(frozen=True, slots=True)
class Counters:
    """Counted from the database at the moment they are read, never kept in memory."""

    total: int
    completed: int
    failed: int  #: failed and canceled tasks
    in_progress: int  #: tasks whose call is queued or live
    remaining: int  #: tasks not yet called, or waiting for a retry
    active_concurrency: int  #: the campaign's calls holding a line now

    @classmethod
    def from_statuses(cls, by_status: dict[TaskStatus, int], active: int) -> Counters:
        def n(status: TaskStatus) -> int:
            return by_status.get(status, 0)

        return cls(
            total=sum(by_status.values()),
            completed=n(TaskStatus.COMPLETED),
            failed=n(TaskStatus.FAILED) + n(TaskStatus.CANCELED),
            in_progress=n(TaskStatus.CALLING),
            remaining=n(TaskStatus.PENDING),
            active_concurrency=active,
        )


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    organization_id: str
    name: str
    from_number: str  #: E.164
    agent_id: str | None  #: None: the from_number's traffic split picks per call
    agent_version: str
    presentation_number: str | None
    scheduled_at: int | None
    window: Windows
    concurrency: int
    retry: RetryRule
    status: CampaignStatus
    paused_by: PausedBy | None
    created_at: int
    updated_at: int
    started_at: int | None = None
    finished_at: int | None = None


@dataclass(frozen=True, slots=True)
class NewTask:
    to_number: str  #: E.164
    dynamic_variables: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Task:
    campaign_id: str
    organization_id: str
    seq: int  #: its row in the list as given (0-based)
    to_number: str
    dynamic_variables: dict[str, Any]
    metadata: dict[str, Any]
    status: TaskStatus
    attempts: int
    call_ids: list[str]
    last_reason: str | None
    due_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Next:
    """What becomes of a task whose call ended."""

    status: TaskStatus
    due_at: int | None = None  #: PENDING: when to call again
    #: The call was never dialled because the organisation's balance ran out: the attempt is
    #: given back (the campaign is paused by the system until the balance is topped up).
    refund: bool = False


def after_call(
    status: CallStatus, reason: DisconnectionReason | None, attempts: int, rule: RetryRule, end_at: int
) -> Next:
    """A connected call completes the task; a call refused for the organisation's balance goes
    back to the list, its attempt not counted; a retryable miss with attempts left waits for its
    retry; anything else fails it (a refused or canceled call is not retried: its cause — the
    do-not-call list, a cap, the caller — would refuse the retry too)."""
    if status is CallStatus.ENDED:
        return Next(TaskStatus.COMPLETED)
    if reason is DisconnectionReason.INSUFFICIENT_BALANCE:
        return Next(TaskStatus.PENDING, end_at, refund=True)
    if reason in rule.reasons and attempts < rule.max_attempts:
        return Next(TaskStatus.PENDING, end_at + rule.interval_min * 60_000)
    return Next(TaskStatus.FAILED)


def final_status(counters: Counters) -> CampaignStatus | None:
    """When no task is left to call: `success` if any call connected, `fail` if none did
    (Vox names the two ends and does not define them; "nobody was reached" is the plain fail)."""
    if counters.remaining or counters.in_progress:
        return None
    return CampaignStatus.SUCCESS if counters.completed else CampaignStatus.FAIL


def check_concurrency(value: int, org_limit: int, field_name: str = "concurrency") -> int:
    if not MIN_CONCURRENCY <= value <= MAX_CONCURRENCY:
        raise ValidationFailed.single(field_name, f"must be between {MIN_CONCURRENCY} and {MAX_CONCURRENCY}")
    if value > org_limit:
        raise ValidationFailed.single(
            field_name, f"must not exceed the organization's limit of {org_limit} concurrent calls"
        )
    return value


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one task row was refused; `row` is its position in the request (0-based)."""

    row: int
    field: str
    reason: str

    def as_field_error(self, prefix: str = "tasks") -> FieldError:
        return FieldError(f"{prefix}[{self.row}].{self.field}", self.reason)


@dataclass(frozen=True, slots=True)
class Gate:
    """What the dispatcher checks for a campaign's queued call, on top of the organisation's
    rules: a campaign that is not running dials nothing, and only inside its own window."""

    held: bool  #: paused, canceled or finished: keep its calls waiting
    window: Windows


def needed_variables(config: Any) -> set[str]:
    """`{{variables}}` the agent's definition says or prompts with and gives no value for:
    a flow's `variables` are defaults, and a node's `set` and `arguments` give values during
    the call. Tool definitions are left out (their templates are filled from the tool call's
    own arguments). What is left can only come from the call's dynamic variables."""
    used: set[str] = set()
    given: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            used.update(variables_in(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if key == "tools":
                    continue
                if key in _GIVING and isinstance(item, dict):
                    given.update(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(config)
    return used - given


_GIVING = ("variables", "set", "arguments")
