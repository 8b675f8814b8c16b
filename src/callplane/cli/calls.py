"""`callplane calls …`: list, search, export, show and cancel calls from the terminal.

`calls list` takes the same filters as the API (they build the same `CallQuery`); `--all`
follows the cursor to the end, so `calls list --all -o csv > calls.csv` exports the filtered
list. CSV is written with a UTF-8 byte-order mark so spreadsheet programs show Hangul.
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from callplane.cli.context import (
    Context,
    console,
    domestic,
    fail,
    group,
    org_option,
    parse_number,
    print_json,
)
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.domain.errors import ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.money import format_krw
from callplane.domain.query import CallQuery, CountMode, Range, SortField, SortOrder, Total

if TYPE_CHECKING:
    from callplane.engine.services.calls import CallService

app = group("Calls: list, search, export, show, cancel.")

CSV_COLUMNS = (
    "id",
    "status",
    "disconnection_reason",
    "agent_id",
    "agent_version",
    "from_number",
    "to_number",
    "start_at",
    "end_at",
    "duration_ms",
    "cost_krw",
    "user_sentiment",
    "summary",
)


def _service(c: Context) -> CallService:
    from callplane.engine.clock import SystemClock
    from callplane.engine.services.calls import CallService

    return CallService(c.db, SystemClock().now_ms)


def _time(ms: int | None, tz: str = "Asia/Seoul") -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def _row(call: Call) -> dict[str, str]:
    analysis = call.analysis
    return {
        "id": call.id,
        "status": call.status.value,
        "disconnection_reason": call.disconnection_reason.value if call.disconnection_reason else "",
        "agent_id": call.agent.agent_id,
        "agent_version": str(call.agent.version),
        "from_number": domestic(call.from_number) if call.from_number else "",
        "to_number": domestic(call.to_number) if call.to_number else "",
        "start_at": _time(call.start_at),
        "end_at": _time(call.end_at),
        "duration_ms": "" if call.duration_ms is None else str(call.duration_ms),
        "cost_krw": format_krw(call.cost_minor) if call.cost_minor is not None else "",
        "user_sentiment": analysis.user_sentiment.value if analysis and analysis.user_sentiment else "",
        "summary": analysis.summary or "" if analysis else "",
    }


@app.command("list")
def list_calls(
    ctx: typer.Context,
    status: Annotated[list[CallStatus] | None, typer.Option(help="Repeat for several.")] = None,
    reason: Annotated[list[DisconnectionReason] | None, typer.Option(help="Disconnection reason.")] = None,
    agent: Annotated[list[str] | None, typer.Option(help="Agent id.")] = None,
    to_number: Annotated[str | None, typer.Option("--to")] = None,
    from_number: Annotated[str | None, typer.Option("--from")] = None,
    search: Annotated[str | None, typer.Option(help="Transcript substring (Korean works).")] = None,
    since: Annotated[int | None, typer.Option(help="Started at or after (Unix ms).")] = None,
    until: Annotated[int | None, typer.Option(help="Started at or before (Unix ms).")] = None,
    sort: Annotated[SortField, typer.Option()] = SortField.START,
    order: Annotated[SortOrder, typer.Option()] = SortOrder.DESC,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    everything: Annotated[bool, typer.Option("--all", help="Follow the cursor through every page.")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="table, json or csv.")] = "table",
    org: org_option = None,
) -> None:
    """List calls, newest first, with the API's filters."""
    c: Context = ctx.obj
    if output not in ("table", "json", "csv"):
        fail("--output must be table, json or csv")
    try:
        query = CallQuery(
            organization_id=c.org(org),
            statuses=tuple(status or ()),
            disconnection_reasons=tuple(reason or ()),
            agent_ids=tuple(normalize_uuid(a) or a for a in agent or ()),
            to_numbers=(parse_number(to_number, "--to"),) if to_number else (),
            from_numbers=(parse_number(from_number, "--from"),) if from_number else (),
            search=search,
            start_at=Range(since, until),
            sort=sort,
            order=order,
            limit=limit,
            count=CountMode.EXACT,
        )
    except ValidationFailed as exc:
        fail(exc.message)
    service = _service(c)
    found: list[Call] = []
    page = service.list(query)
    found.extend(page.calls)
    while everything and page.next_cursor is not None:
        page = service.list(query.next_page(page.next_cursor))
        found.extend(page.calls)
    # Every page was read: the count is what was found.
    total = Total(len(found), exact=True) if everything else page.total
    _print(found, output)
    if output == "table" and total is not None:
        # Inexact: a search matched more calls than its list holds (a lower bound).
        qualifier = "" if total.exact else "at least "
        console().print(f"{len(found)} shown of {qualifier}{total.value:,} matching")


def _print(found: list[Call], output: str) -> None:
    from rich.table import Table

    from callplane.api.dialects.vox.render import v3_call

    if output == "json":
        print_json([v3_call(call, with_transcript=False) for call in found])
    elif output == "csv":
        sys.stdout.write("\ufeff")
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for call in found:
            writer.writerow(_row(call))
    else:
        table = Table("id", "status", "reason", "to", "start", "duration", "cost")
        for call in found:
            row = _row(call)
            seconds = f"{int(row['duration_ms']) / 1000:.1f}s" if row["duration_ms"] else ""
            table.add_row(
                row["id"],
                row["status"],
                row["disconnection_reason"],
                row["to_number"],
                row["start_at"],
                seconds,
                row["cost_krw"],
            )
        console().print(table)


@app.command("get")
def get_call(ctx: typer.Context, call_id: str, org: org_option = None) -> None:
    """Show one call, transcript included, as Vox v3 JSON."""
    from callplane.api.dialects.vox.render import v3_call
    from callplane.engine.clock import SystemClock
    from callplane.engine.services.cursors import Cursors
    from callplane.engine.services.recordings import Recordings, public_base

    c: Context = ctx.obj
    now = SystemClock().now_ms
    recordings = Recordings.from_settings(c.settings, c.db, Cursors(c.db, now, c.settings.cursor_secret), now)
    print_json(v3_call(recordings.with_url(public_base(c.settings), _service(c).get(c.org(org), call_id))))


@app.command("cancel")
def cancel_call(ctx: typer.Context, call_id: str, org: org_option = None) -> None:
    """Cancel a queued call, or end a live one."""
    c: Context = ctx.obj
    call = _service(c).cancel(c.org(org), call_id)
    console().print(f"{call.id}: {call.status.value}")
