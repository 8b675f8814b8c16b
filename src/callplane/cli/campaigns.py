"""`callplane campaigns …`: create a campaign from a CSV file, list, show, pause, resume,
cancel, and export its per-task results.

The CSV's header row names the columns: `to_number` is the callee (Korean domestic digits or
E.164), a `meta.<key>` column goes to the task's metadata, and every other column is a dynamic
variable (an empty cell is no value, so a variable the agent needs is reported missing). The
file is read as UTF-8 (a byte-order mark is fine).

`--dry-run` checks every row — invalid number, duplicate, on the do-not-call list, a variable the
agent needs — prints each rejected row with its reason and the totals, and creates nothing. A
real run creates the campaign with the rows that pass and lists the others. It is idempotent:
the campaign's Idempotency-Key is derived from the file and the options, so importing the same
file twice finds the first campaign and calls nobody twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from callplane.cli.context import Context, console, fail, org_option, print_json
from callplane.domain.call import DisconnectionReason
from callplane.domain.campaign import RETRYABLE, NewTask, RetryRule, RowProblem, TaskStatus, Windows
from callplane.domain.errors import DomainError, ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.org import ALL_DAYS, CallingWindow
from callplane.domain.phone import parse_any

if TYPE_CHECKING:
    from callplane.engine.services.campaigns import CampaignService

app = typer.Typer(
    no_args_is_help=True, help="Campaigns: create from CSV, list, show, pause, resume, cancel, export."
)

_PAGE = 1000


def _service(c: Context) -> CampaignService:
    # The engine (and the web stack, for the rendering) load only when a command runs: `--help`
    # must stay light (tests/test_cli_startup.py).
    from callplane.engine.clock import SystemClock
    from callplane.engine.services.campaigns import CampaignService

    return CampaignService(c.db, SystemClock().now_ms)


def read_rows(text: str) -> list[NewTask | RowProblem]:
    """Each data row as a task, or the reason it cannot be one (its index is its data row)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "to_number" not in reader.fieldnames:
        fail("the CSV's header row must name a to_number column")
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


def _windows(windows: list[str], days: str, timezone: str) -> Windows:
    spans = []
    for window in windows:
        start, _, end = window.partition("-")
        try:
            sh, sm = (int(x) for x in start.split(":"))
            eh, em = (int(x) for x in end.split(":"))
        except ValueError:
            fail("--window must look like 08:00-20:00")
        spans.append(CallingWindow(timezone, sh * 60 + sm, eh * 60 + em, days))
    return Windows(tuple(spans))


def _line(problem: RowProblem) -> str:
    # Data row 0 is line 2 of the file (the header is line 1).
    return f"line {problem.row + 2}: {problem.field} {problem.reason}"


@app.command("create")
def create(
    ctx: typer.Context,
    csv_file: Annotated[Path, typer.Option("--csv", exists=True, dir_okay=False, help="The callee list.")],
    from_number: Annotated[str, typer.Option("--from", help="An owned number to call from.")],
    agent: Annotated[str | None, typer.Option(help="Agent id (omit: the number's traffic split).")] = None,
    agent_version: Annotated[str, typer.Option(help="current, production or v<N>.")] = "current",
    name: Annotated[str | None, typer.Option(help="Default: the file's name.")] = None,
    presentation: Annotated[str | None, typer.Option(help="An approved caller ID to show.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=100)] = 1,
    window: Annotated[
        list[str] | None, typer.Option(help="Local calling hours; repeat for more windows.")
    ] = None,
    days: Annotated[str, typer.Option(help="ISO weekdays, 1 = Monday.")] = ALL_DAYS,
    timezone: Annotated[str, typer.Option()] = "Asia/Seoul",
    scheduled_at: Annotated[int | None, typer.Option(help="Start at (Unix ms); default now.")] = None,
    attempts: Annotated[int, typer.Option(help="Calls per task in all (1 = no retry).")] = 1,
    retry_after: Annotated[int, typer.Option(help="Minutes before a retry.")] = 60,
    retry_on: Annotated[list[DisconnectionReason] | None, typer.Option(help="Reasons to retry.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row; create nothing.")] = False,
    org: org_option = None,
) -> None:
    """Create a campaign from a CSV file (or check the file with --dry-run)."""
    c: Context = ctx.obj
    from callplane.engine.services.campaigns import CampaignDraft

    raw = csv_file.read_bytes()
    try:
        draft = CampaignDraft(
            name=name or csv_file.stem,
            from_number=parse_any(from_number, "--from"),
            tasks=read_rows(raw.decode("utf-8-sig")),
            agent_id=(normalize_uuid(agent) or agent) if agent else None,
            agent_version=agent_version,
            presentation_number=parse_any(presentation, "--presentation") if presentation else None,
            scheduled_at=scheduled_at,
            window=_windows(window or ["08:00-20:00"], days, timezone),
            concurrency=concurrency,
            retry=RetryRule(attempts, retry_after, tuple(retry_on) if retry_on else RETRYABLE),
        )
        # The same file with the same options is the same import, whenever it is run again.
        key = "csv:" + hashlib.sha256(raw + b"\0" + draft.fingerprint().encode()).hexdigest()
        checked = _service(c).create(
            c.org(org), draft, idempotency_key=key, dry_run=dry_run, skip_invalid=True
        )
    except UnicodeDecodeError:
        fail("the CSV file is not UTF-8")
    except DomainError as exc:
        fail(exc.message)
    for problem in checked.rejected:
        console.print(f"[yellow]rejected[/yellow] {_line(problem)}")
    if checked.replayed and checked.view is not None:
        console.print(f"already imported as campaign {checked.view.campaign.id}; nothing created")
        return
    console.print(f"{checked.accepted:,} rows accepted, {len(checked.rejected):,} rejected")
    if checked.view is not None:
        console.print(f"campaign {checked.view.campaign.id} created ({checked.view.campaign.status.value})")
    else:
        console.print("dry run: nothing created")


@app.command("list")
def list_campaigns(
    ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=100)] = 50, org: org_option = None
) -> None:
    """Campaigns, newest first, with their counters."""
    c: Context = ctx.obj
    table = Table(
        Column("id", no_wrap=True), "name", "status", "total", "done", "failed", "calling", "left", "live"
    )
    for view in _service(c).campaigns(c.org(org), limit, None):
        k = view.counters
        table.add_row(
            view.campaign.id,
            view.campaign.name,
            view.campaign.status.value,
            *(
                str(n)
                for n in (k.total, k.completed, k.failed, k.in_progress, k.remaining, k.active_concurrency)
            ),
        )
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, campaign_id: str, org: org_option = None) -> None:
    """One campaign with its counters, as Vox v3 JSON."""
    from callplane.api.dialects.vox.campaigns import render

    c: Context = ctx.obj
    print_json(render(_service(c).get(c.org(org), campaign_id)))


@app.command("pause")
def pause(ctx: typer.Context, campaign_id: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    console.print(_service(c).pause(c.org(org), campaign_id).campaign.status.value)


@app.command("resume")
def resume(ctx: typer.Context, campaign_id: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    console.print(_service(c).resume(c.org(org), campaign_id).campaign.status.value)


@app.command("cancel")
def cancel(ctx: typer.Context, campaign_id: str, org: org_option = None) -> None:
    """Queued calls end canceled, live ones finish, nobody else is called."""
    c: Context = ctx.obj
    console.print(_service(c).cancel(c.org(org), campaign_id).campaign.status.value)


EXPORT_COLUMNS = ("task_id", "to_number", "status", "attempts", "last_reason", "call_ids")


@app.command("export")
def export(
    ctx: typer.Context,
    campaign_id: str,
    output: Annotated[str, typer.Option("--output", "-o", help="csv or jsonl.")] = "csv",
    status: Annotated[TaskStatus | None, typer.Option(help="Only tasks in this status.")] = None,
    org: org_option = None,
) -> None:
    """Every task's result (status, reason, attempts, call ids), as CSV or JSON lines."""
    from callplane.api.dialects.vox.campaigns import render_task

    c: Context = ctx.obj
    if output not in ("csv", "jsonl"):
        fail("--output must be csv or jsonl")
    service, organization = _service(c), c.org(org)
    writer = None
    if output == "csv":
        sys.stdout.write("\ufeff")  # spreadsheet programs then show Hangul
        writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
    after = -1
    try:
        while page := service.tasks(organization, campaign_id, after_seq=after, limit=_PAGE, status=status):
            for task in page:
                row = render_task(task)
                if writer is not None:
                    writer.writerow({**row, "call_ids": " ".join(task.call_ids)})
                else:
                    print(json.dumps(row, ensure_ascii=False))
            after = page[-1].seq
    except DomainError as exc:
        fail(exc.message)
