"""`callplane campaigns …`: create a campaign from a CSV file, list, show, pause, resume,
cancel, and export its per-task results.

The CSV is read as `engine.services.campaign_import` says (the admin API's upload reads it the
same way). `--dry-run` checks every row — invalid number, duplicate, on the do-not-call list, a
variable the agent needs — prints each rejected row with its reason and the totals, and creates
nothing. A real run shows a progress bar while the tasks load, creates the campaign with the
rows that pass and lists the others. It is idempotent: importing the same file with the same
options twice finds the first campaign and calls nobody twice.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from callplane.cli.context import Context, console, fail, group, org_option, print_json
from callplane.domain.call import DisconnectionReason
from callplane.domain.campaign import RETRYABLE, TaskStatus
from callplane.domain.errors import DomainError
from callplane.domain.org import ALL_DAYS

if TYPE_CHECKING:
    from callplane.engine.services.campaigns import CampaignService

app = group("Campaigns: create from CSV, list, show, pause, resume, cancel, export.")

_PAGE = 1000


def _service(c: Context) -> CampaignService:
    # The engine (and the web stack, for the rendering) load only when a command runs: `--help`
    # must stay light (tests/test_cli_startup.py).
    from callplane.engine.clock import SystemClock
    from callplane.engine.services.campaigns import CampaignService

    return CampaignService(c.db, SystemClock().now_ms)


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
    from rich.progress import Progress

    from callplane.engine.services.campaign_import import ImportOptions, import_csv, line

    options = ImportOptions(
        from_number=from_number,
        name=name or csv_file.stem,
        agent_id=agent,
        agent_version=agent_version,
        presentation_number=presentation,
        concurrency=concurrency,
        windows=window or ["08:00-20:00"],
        days=days,
        timezone=timezone,
        scheduled_at=scheduled_at,
        attempts=attempts,
        retry_after_min=retry_after,
        retry_on=tuple(retry_on) if retry_on else RETRYABLE,
    )
    try:
        with Progress(console=console(), transient=True, disable=dry_run) as bar:
            loading = bar.add_task("loading tasks", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(loading, completed=done, total=total)

            checked = import_csv(
                _service(c), c.org(org), csv_file.read_bytes(), options, dry_run=dry_run, progress=advance
            )
    except DomainError as exc:
        fail(exc.message)
    for problem in checked.rejected:
        console().print(f"[yellow]rejected[/yellow] line {line(problem)}: {problem.field} {problem.reason}")
    if checked.replayed and checked.view is not None:
        console().print(f"already imported as campaign {checked.view.campaign.id}; nothing created")
        return
    console().print(f"{checked.accepted:,} rows accepted, {len(checked.rejected):,} rejected")
    if checked.view is not None:
        console().print(f"campaign {checked.view.campaign.id} created ({checked.view.campaign.status.value})")
    else:
        console().print("dry run: nothing created")


@app.command("list")
def list_campaigns(
    ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=100)] = 50, org: org_option = None
) -> None:
    """Campaigns, newest first, with their counters."""
    from rich.table import Column, Table

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
    console().print(table)


@app.command("show")
def show(ctx: typer.Context, campaign_id: str, org: org_option = None) -> None:
    """One campaign with its counters, as Vox v3 JSON."""
    from callplane.api.dialects.vox.campaigns import render

    c: Context = ctx.obj
    print_json(render(_service(c).get(c.org(org), campaign_id)))


@app.command("pause")
def pause(ctx: typer.Context, campaign_id: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    console().print(_service(c).pause(c.org(org), campaign_id).campaign.status.value)


@app.command("resume")
def resume(ctx: typer.Context, campaign_id: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    console().print(_service(c).resume(c.org(org), campaign_id).campaign.status.value)


@app.command("cancel")
def cancel(ctx: typer.Context, campaign_id: str, org: org_option = None) -> None:
    """Queued calls end canceled, live ones finish, nobody else is called."""
    c: Context = ctx.obj
    console().print(_service(c).cancel(c.org(org), campaign_id).campaign.status.value)


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
