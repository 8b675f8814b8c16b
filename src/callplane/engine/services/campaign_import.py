"""A campaign from a CSV file: the one reading the CLI (`callplane campaigns create --csv`) and the
admin API (`POST /admin/v1/campaigns/import`) share.

The header row names the columns: `to_number` is the callee (Korean domestic digits or E.164), a
`meta.<key>` column goes to the task's metadata, and every other column is a dynamic variable (an
empty cell is no value, so a variable the agent needs is reported missing). The file is UTF-8 (a
byte-order mark is fine).

Rows that cannot be called — invalid number, duplicate, on the do-not-call list, a variable the
agent needs — are rejected with their reason and the rest are imported (a dry run imports
nothing). The import is idempotent: its Idempotency-Key is derived from the file's bytes and the
options, so the same file with the same options finds the first campaign and calls nobody twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from callplane.domain import bounds
from callplane.domain.agent import parse_version_spec
from callplane.domain.call import DisconnectionReason
from callplane.domain.campaign import RETRYABLE, NewTask, RetryRule, RowProblem, Windows
from callplane.domain.errors import ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.org import ALL_DAYS, CallingWindow
from callplane.domain.phone import parse_any
from callplane.engine.services.campaigns import CampaignDraft, CampaignService, Checked, Progress


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """Everything but the rows; numbers in any form `parse_any` reads."""

    from_number: str
    name: str
    agent_id: str | None = None
    agent_version: str = "current"
    presentation_number: str | None = None
    concurrency: int = 1
    windows: Sequence[str] = ("08:00-20:00",)  #: local `HH:MM-HH:MM`, one per window
    days: str = ALL_DAYS  #: ISO weekdays the windows apply to
    timezone: str = "Asia/Seoul"
    scheduled_at: int | None = None
    attempts: int = 1
    retry_after_min: int = 60
    retry_on: Sequence[DisconnectionReason] = RETRYABLE


def read_rows(text: str) -> list[NewTask | RowProblem]:
    """Each data row as a task, or the reason it cannot be one (its index is its data row)."""
    try:
        return _rows(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ValidationFailed.single("csv", f"is not a CSV file the import can read ({exc})") from None


def _rows(reader: csv.DictReader[str]) -> list[NewTask | RowProblem]:
    if reader.fieldnames is None or "to_number" not in reader.fieldnames:
        raise ValidationFailed.single("csv", "the header row must name a to_number column")
    out: list[NewTask | RowProblem] = []
    for i, raw in enumerate(reader):
        if None in raw:
            out.append(RowProblem(i, "row", "has more cells than the header"))
            continue
        variables: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "to_number" or value is None or value == "":
                continue
            if key.startswith("meta."):
                metadata[key.removeprefix("meta.")] = value
            else:
                variables[key] = value
        try:
            number = parse_any((raw.get("to_number") or "").strip(), "to_number")
        except ValidationFailed as exc:
            out.append(RowProblem(i, "to_number", exc.errors[0].reason))
            continue
        out.append(NewTask(number, variables, metadata))
    return out


def windows(spans: Sequence[str], days: str, timezone: str) -> Windows:
    out = []
    for i, span in enumerate(spans):
        start, _, end = span.partition("-")
        try:
            sh, sm = (int(x) for x in start.split(":"))
            eh, em = (int(x) for x in end.split(":"))
        except ValueError:
            raise ValidationFailed.single(f"window[{i}]", "must look like 08:00-20:00") from None
        out.append(CallingWindow(timezone, sh * 60 + sm, eh * 60 + em, days))
    return Windows(tuple(out))


def line(problem: RowProblem) -> int:
    """The file line of a rejected row: data row 0 is line 2 (the header is line 1)."""
    return problem.row + 2


def import_csv(
    service: CampaignService,
    organization_id: str,
    raw: bytes,
    options: ImportOptions,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    max_rows: int | None = None,
) -> Checked:
    """`max_rows`: the API's cap on tasks per request (the CLI loads any size)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.single("csv", "is not UTF-8") from None
    rows = read_rows(text)
    if max_rows is not None:
        bounds.check_count(rows, max_rows, "csv")
    draft = CampaignDraft(
        name=bounds.name(options.name),
        from_number=parse_any(options.from_number, "from_number"),
        tasks=rows,
        agent_id=(normalize_uuid(options.agent_id) or options.agent_id) if options.agent_id else None,
        agent_version=parse_version_spec(options.agent_version, "agent_version"),
        presentation_number=(
            parse_any(options.presentation_number, "presentation_number")
            if options.presentation_number
            else None
        ),
        scheduled_at=options.scheduled_at,
        window=windows(options.windows, options.days, options.timezone),
        concurrency=options.concurrency,
        retry=RetryRule(options.attempts, options.retry_after_min, tuple(options.retry_on)),
    )
    # The same file with the same options is the same import, whenever it is run again.
    key = "csv:" + hashlib.sha256(raw + b"\0" + draft.fingerprint().encode()).hexdigest()
    return service.create(
        organization_id, draft, idempotency_key=key, dry_run=dry_run, skip_invalid=True, progress=progress
    )
