"""`callplane recordings …`: the recordings' retention, by hand (workers also purge on their own
when `CALLPLANE_RECORDINGS_RETENTION_DAYS` is set)."""

from __future__ import annotations

from typing import Annotated

import typer

from callplane.cli.context import Context, console, fail, group

app = group("Call recordings (the blob store, CALLPLANE_RECORDINGS_*).")


@app.command("purge")
def recordings_purge(
    ctx: typer.Context,
    older_than_days: Annotated[
        float | None,
        typer.Option(help="Default: CALLPLANE_RECORDINGS_RETENTION_DAYS.", min=0),
    ] = None,
) -> None:
    """Delete recordings of calls that ended more than the retention ago, and their links."""
    from callplane.engine import blobs
    from callplane.engine.clock import SystemClock
    from callplane.engine.services.recordings import purge

    c: Context = ctx.obj
    days = c.settings.recordings_retention_days if older_than_days is None else older_than_days
    if not days:
        fail("no retention: set CALLPLANE_RECORDINGS_RETENTION_DAYS or pass --older-than-days")
    before = SystemClock().now_ms() - int(days * 86_400_000)
    purged = purge(c.db, blobs.from_settings(c.settings), before)
    console().print(f"purged {purged} recording{'s' if purged != 1 else ''} older than {days:g} days")
