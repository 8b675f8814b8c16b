"""`CallQuery`: the one list specification every dialect translates into.

A dialect parses its vendor's filters into a `CallQuery`; the store compiles it to SQL once.
Pagination is keyset: the cursor carries the last row's sort value and id (the tie-breaker),
so pages neither repeat nor skip calls however many share a sort value, and a deep page costs
what the first does. Page-number dialects (Zudu, Vocode) use `offset` instead, capped because
an offset costs a row read per skipped row.

Sort values that can be unknown (`end_at`, `duration_ms` of a call still running) sort last in
either direction: "unknown" is not smaller or larger than a real value.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from dataclasses import dataclass, field, replace

import orjson

from callplane.domain import bounds
from callplane.domain.call import CallStatus, CallType, Direction, DisconnectionReason, Sentiment
from callplane.domain.errors import ValidationFailed


class SortField(enum.StrEnum):
    START = "start"  #: when the call started, or was created if it never started
    END = "end"  #: end_at; running calls last
    DURATION = "duration"  #: duration_ms; running calls last
    CREATED = "created"
    ID = "id"

    @property
    def nullable(self) -> bool:
        return self in (SortField.END, SortField.DURATION)


class SortOrder(enum.StrEnum):
    ASC = "asc"
    DESC = "desc"


class CountMode(enum.StrEnum):
    NONE = "none"  #: no total
    #: The exact number of calls the list holds: every match, except for a transcript search
    #: matching more than `MAX_SEARCH_RESULTS` calls (its list holds that many; see `Total`).
    EXACT = "exact"


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive bounds; either may be open."""

    low: int | None = None
    high: int | None = None

    def __post_init__(self) -> None:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("range low is above high")

    @property
    def is_open(self) -> bool:
        return self.low is None and self.high is None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page stopped: its last row's sort value (None = unknown) and id, and
    for a search list, how many rows it had served up to it (it ends at `MAX_SEARCH_RESULTS`)."""

    value: int | None
    id: str
    position: int = 0


_LIST_FILTERS = (
    "call_ids",
    "agent_ids",
    "statuses",
    "call_types",
    "directions",
    "disconnection_reasons",
    "user_sentiments",
    "from_numbers",
    "to_numbers",
    "campaign_ids",
)
#: The largest page any dialect serves (Retell's legacy list allows 1,000).
MAX_LIMIT = 1000
#: A transcript search lists at most this many matches, in the list's order (the newest first by
#: default): like GitHub's or Algolia's search, past it a client narrows the search (a date range)
#: instead of paging on. Counting a common word's matches exactly costs a substring check per
#: candidate (measured in bench/RESULTS.md), so a search's total counts at most this many and its
#: list ends there: `total_count` is never below the calls a client can page through.
MAX_SEARCH_RESULTS = 1_000
#: The deepest offset a query may carry whatever `CALLPLANE_MAX_OFFSET` says (dialects check the
#: setting, which is lower): an offset costs a row read per skipped row.
MAX_OFFSET = 1_000_000


@dataclass(frozen=True, slots=True)
class CallQuery:
    organization_id: str
    call_ids: tuple[str, ...] = ()
    agent_ids: tuple[str, ...] = ()
    statuses: tuple[CallStatus, ...] = ()
    call_types: tuple[CallType, ...] = ()
    directions: tuple[Direction, ...] = ()
    disconnection_reasons: tuple[DisconnectionReason, ...] = ()
    user_sentiments: tuple[Sentiment, ...] = ()
    from_numbers: tuple[str, ...] = ()  #: E.164
    to_numbers: tuple[str, ...] = ()
    campaign_ids: tuple[str, ...] = ()  #: calls made for these campaigns
    start_at: Range = field(default_factory=Range)
    #: The list's own time: when the call started or, for one not started (queued, canceled),
    #: when it was created — what the list is sorted by (`SortField.START`). Unlike `start_at`
    #: it keeps calls that never started; the dashboard's periods use it.
    listed_at: Range = field(default_factory=Range)
    end_at: Range = field(default_factory=Range)
    duration_ms: Range = field(default_factory=Range)
    metadata: tuple[tuple[str, str | int | float | bool], ...] = ()  #: equality on scalar values
    search: str | None = None  #: case-insensitive substring of the transcript text
    sort: SortField = SortField.START
    order: SortOrder = SortOrder.DESC
    limit: int = 50
    cursor: Cursor | None = None
    offset: int = 0
    include_transcript: bool = False
    count: CountMode = CountMode.NONE

    def __post_init__(self) -> None:
        # Dialects check these first, under their own field names; this is the rule itself, so
        # that no entry point (another dialect, the CLI) can build a query the store cannot bound.
        for name in _LIST_FILTERS:
            bounds.check_count(getattr(self, name), bounds.MAX_FILTER_VALUES, name)
        bounds.check_count(self.metadata, bounds.MAX_METADATA_FILTERS, "metadata")
        for key, value in self.metadata:
            bounds.check_chars(key, bounds.MAX_METADATA_FILTER_CHARS, "metadata")
            if isinstance(value, str):
                bounds.check_chars(value, bounds.MAX_METADATA_FILTER_CHARS, f"metadata.{key}")
        if self.search is not None:
            bounds.check_chars(self.search, bounds.MAX_SEARCH_CHARS, "search")
        for name in ("start_at", "listed_at", "end_at", "duration_ms"):
            span: Range = getattr(self, name)
            if any(b is not None and not 0 <= b <= bounds.MAX_UNIX_MS for b in (span.low, span.high)):
                raise ValidationFailed.single(name, f"bounds must be between 0 and {bounds.MAX_UNIX_MS}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValidationFailed.single("limit", f"must be between 1 and {MAX_LIMIT}")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise ValidationFailed.single("offset", f"must be between 0 and {MAX_OFFSET}")

    def filter_fingerprint(self) -> str:
        """A short hash of everything that decides *which* calls match and in what order.

        A cursor carries it, so a cursor replayed with other filters is refused instead of
        silently returning a page of a different list.
        """
        parts: list[object] = [
            self.call_ids,
            self.agent_ids,
            self.statuses,
            self.call_types,
            self.directions,
            self.disconnection_reasons,
            self.user_sentiments,
            self.from_numbers,
            self.to_numbers,
            [self.start_at.low, self.start_at.high],
            *([[self.listed_at.low, self.listed_at.high]] if not self.listed_at.is_open else []),
            [self.end_at.low, self.end_at.high],
            [self.duration_ms.low, self.duration_ms.high],
            self.metadata,
            self.search,
            self.sort,
            self.order,
        ]
        if self.campaign_ids:
            # Appended only when set, so cursors issued before the filter existed stay valid.
            parts.append(self.campaign_ids)
        material = orjson.dumps(parts)
        return hashlib.blake2b(material, digest_size=6).hexdigest()

    def next_page(self, cursor: Cursor) -> CallQuery:
        return replace(self, cursor=cursor, offset=0)


def encode_cursor(query: CallQuery, cursor: Cursor, key: bytes) -> str:
    """An opaque cursor token: the position and the filters' fingerprint, signed with `key`.

    The signature (HMAC-SHA256, 128 bits) makes a cursor something only this deployment can
    write: a client cannot forge a position, so `decode_cursor` never reads a value it did not
    issue. `key` is the deployment's cursor secret (`engine.services.cursors`).
    """
    payload = base64.urlsafe_b64encode(
        orjson.dumps(
            {"v": cursor.value, "i": cursor.id, "f": query.filter_fingerprint()}
            | ({"n": cursor.position} if cursor.position else {})
        )
    ).rstrip(b"=")
    return f"{payload.decode()}.{_signature(payload, key)}"


def _signature(payload: bytes, key: bytes) -> str:
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


_NOT_OURS = "is not a cursor returned by this API"


def decode_cursor(token: str, query: CallQuery, key: bytes, field: str = "cursor") -> Cursor:
    """Read a cursor made by `encode_cursor` with the same key for the same filters, or raise
    ValidationFailed (a forged, altered or truncated cursor included)."""
    payload, dot, signature = token.rpartition(".")
    if not dot or not hmac.compare_digest(signature.encode(), _signature(payload.encode(), key).encode()):
        raise ValidationFailed.single(field, _NOT_OURS)
    try:
        data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise ValidationFailed.single(field, _NOT_OURS) from None
    value = data.get("v") if isinstance(data, dict) else None
    position = data.get("n", 0) if isinstance(data, dict) else 0
    if (
        not isinstance(data, dict)
        or not isinstance(position, int)
        or isinstance(position, bool)
        or not 0 <= position <= MAX_SEARCH_RESULTS
        or not isinstance(data.get("i"), str)
        or not (value is None or (isinstance(value, int) and not isinstance(value, bool)))
        or (value is not None and not 0 <= value <= bounds.MAX_UNIX_MS)
    ):
        raise ValidationFailed.single(field, _NOT_OURS)
    if data.get("f") != query.filter_fingerprint():
        raise ValidationFailed.single(field, "was issued for different filters or sort order")
    return Cursor(value=value, id=data["i"], position=position)


@dataclass(frozen=True, slots=True)
class Total:
    """A total count, the same for the same data however long it took to count.

    `exact` False: a transcript search matched more calls than its list holds; `value` is what
    the list holds (`MAX_SEARCH_RESULTS`), a lower bound of the matches. Dialects with an
    "estimated" flag say so; the others document the cap.
    """

    value: int
    exact: bool
