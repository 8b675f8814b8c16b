"""Shared CLI plumbing: settings, the database, picking the organisation, printing.

Start-up cost: `callplane --help` must not import the web stack, pydantic-settings or
SQLAlchemy (seconds of CPU on a loaded host; a worker once took a minute to start), nor rich or
phonenumbers (a fifth of a second between them). So the CLI's modules import at their top only
typer (with rich markup off, so it does not import rich either) and light `domain` modules;
rich when something is printed (`console()`), phone numbers when one is parsed or shown
(`parse_number`, `domestic`), settings, the database and everything else where a command uses
them (tests/test_cli_startup.py checks).
"""

from __future__ import annotations

import functools
import json
import signal
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from callplane.config import Settings
    from callplane.engine.services.admin import Admin
    from callplane.store.db import Database


@functools.cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def parse_number(value: str, field: str) -> str:
    """A phone number as given on the command line, in E.164 (`domain.phone.parse_any`)."""
    from callplane.domain.phone import parse_any

    return parse_any(value, field)


def domestic(e164: str) -> str:
    """A number as Korean domestic digits for display (`domain.phone.to_domestic`)."""
    from callplane.domain.phone import to_domestic

    return to_domestic(e164)


def group(help: str) -> typer.Typer:
    """A command group; rich markup off (typer would import rich for every `--help`)."""
    return typer.Typer(rich_markup_mode=None, no_args_is_help=True, help=help)


org_option = Annotated[
    str | None, typer.Option("--org", help="Organisation id; optional when there is only one.")
]


def fail(message: str) -> NoReturn:
    console().print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


class EarlyStop:
    """SIGINT/SIGTERM noted from the first moment of a long-running command, before its heavy
    imports and migrations: a process stopped while it is still starting (a rolling restart
    right after a deploy) then stops cleanly, exit 0, instead of dying of the signal. The
    command takes the signals over (`loop.add_signal_handler`) once it can stop properly."""

    def __init__(self) -> None:
        self.requested = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._note)

    def _note(self, _signum: int, _frame: object) -> None:
        self.requested = True


class Context:
    def __init__(self, database_url: str | None) -> None:
        self._database_url = database_url

    @cached_property
    def settings(self) -> Settings:
        from callplane.config import Settings

        settings = Settings()
        if self._database_url:
            settings = settings.model_copy(update={"database_url": self._database_url})
        return settings

    @cached_property
    def db(self) -> Database:
        from callplane.api.dialects.webhooks import register
        from callplane.engine import relay_wakeup
        from callplane.store.db import Database

        # Whatever runs against the database may emit webhook events (a worker ending calls, a
        # cancel, a campaign): their payloads are rendered by the dialects' formats, and running
        # relays hear of them at once (PostgreSQL), as from the API (`close` sends what is left).
        register()
        db = Database(self.settings.database_url)
        relay_wakeup.announce(db)
        return db

    def close(self) -> None:
        """At the command's end: announce webhook events it committed that its announcer's
        thread has not announced yet (the process exits next, and the thread with it), and
        close the database's connections."""
        if "db" in self.__dict__:  # the command used the database
            from callplane.engine import relay_wakeup

            relay_wakeup.finish(self.db)
            self.db.dispose()

    @cached_property
    def admin(self) -> Admin:
        from callplane.engine.clock import SystemClock
        from callplane.engine.services.admin import Admin

        return Admin(self.db, SystemClock().now_ms, self.settings.allow_private_destinations)

    def org(self, given: str | None) -> str:
        if given:
            return given
        orgs = self.admin.organizations()
        if len(orgs) == 1:
            return orgs[0].id
        if not orgs:
            fail(
                "the database has no organisation yet: run `callplane serve` once or `callplane orgs create`"
            )
        fail("several organisations exist; pick one with --org (see `callplane orgs list`)")
