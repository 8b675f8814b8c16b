"""How much one request may ask for: the caps every dialect, the admin API and the CLI share.

Each number is far beyond what a real client sends (a dashboard filters by a handful of agents,
names are a few words) and far below what makes one request cost the server seconds or break a
database bound. Past a cap the answer is a 400 naming the field (413 for a body past its byte
cap), never a truncated result. The README's "Limits on requests" lists them.
"""

from __future__ import annotations

from collections.abc import Sized

from callplane.domain.errors import ValidationFailed

#: Values in one list filter (agent ids, statuses, call ids, numbers…). Each value is a bound
#: parameter: 100,000 of them took 12 s to plan and broke PostgreSQL's 65,535-parameter limit.
MAX_FILTER_VALUES = 100
#: Metadata equality filters in one list request. Each adds a join (SQLite) or a containment
#: term (PostgreSQL); 40,000 of them froze the server for minutes.
MAX_METADATA_FILTERS = 20
#: Characters of a metadata filter's key and of a string value it compares with.
MAX_METADATA_FILTER_CHARS = 200
#: Characters of a transcript search. A search is a substring of one conversation; a 10 MB one
#: took 14–45 s to split into grams and recheck.
MAX_SEARCH_CHARS = 200
#: Characters of a name (organisation, API key, agent, number label, suppression reason): a
#: 1 MB name was a 500 on PostgreSQL (index row size) and is never shown whole anywhere.
MAX_NAME_CHARS = 200
#: Characters of a free-text description (agent version, webhook endpoint).
MAX_DESCRIPTION_CHARS = 5_000
#: Bytes of a request body (the default of `CALLPLANE_MAX_BODY_BYTES`). The largest real body
#: is an agent definition with a long prompt and flow, tens of kilobytes.
MAX_BODY_BYTES = 1024 * 1024
#: Tasks in one campaign create request. Within the 1 MB body cap a task row is ~100 bytes, so
#: 10,000 is about what fits; a larger list is loaded with the CLI (`callplane campaigns create
#: --csv`), which has no cap (100,000 tasks load in seconds).
MAX_CAMPAIGN_TASKS = 10_000
#: Unix ms of 9999-12-31T23:59:59.999Z, the last instant a timestamp can be shown as a date;
#: the bound of every time and duration filter (no call lasts longer than the epoch is old).
MAX_UNIX_MS = 253_402_300_799_999
#: KRW of a balance or a per-minute rate: a trillion, so that minor units (1/100 KRW) stay well
#: inside a 64-bit column however many calls are billed.
MAX_KRW = 10**12


def check_count(values: Sized, cap: int, field: str) -> None:
    if len(values) > cap:
        raise ValidationFailed.single(field, f"takes at most {cap} values (got {len(values)})")


def check_chars(value: str, cap: int, field: str) -> None:
    if len(value) > cap:
        raise ValidationFailed.single(field, f"must be at most {cap} characters")


def name(value: object, field: str = "name") -> str:
    """A stored name: a non-empty string of at most `MAX_NAME_CHARS`, trimmed."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.single(field, "must be a non-empty string")
    check_chars(value.strip(), MAX_NAME_CHARS, field)
    return value.strip()


def description(value: object, field: str = "description") -> str:
    if not isinstance(value, str):
        raise ValidationFailed.single(field, "must be a string")
    check_chars(value, MAX_DESCRIPTION_CHARS, field)
    return value
