"""`callplane` command line: run the server and workers, migrate, and manage organisations.

Management commands talk to the database directly (like `manage.py`), so they work before the
server runs. `--org` may be omitted while the database holds a single organisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from callplane import __version__
from callplane.cli import calls as calls_cli
from callplane.cli import campaigns as campaigns_cli
from callplane.cli import numbers as numbers_cli
from callplane.cli import recordings as recordings_cli
from callplane.cli import webhooks as webhooks_cli
from callplane.cli.context import Context, EarlyStop, console, fail, group, org_option, print_json
from callplane.domain.errors import DomainError

# `--install-completion` / `--show-completion`: bash, zsh, fish and PowerShell (Typer's own).
app = typer.Typer(rich_markup_mode=None, no_args_is_help=True, add_completion=True, help=__doc__)
db_app = group("Database schema.")
orgs_app = group("Organisations and their calling rules.")
keys_app = group("API keys (shown once, stored hashed).")
agents_app = group("Agents and their immutable versions.")
for sub, name in (
    (db_app, "db"),
    (orgs_app, "orgs"),
    (keys_app, "keys"),
    (agents_app, "agents"),
    (numbers_cli.numbers_app, "numbers"),
    (numbers_cli.presentation_app, "presentation"),
    (numbers_cli.splits_app, "splits"),
    (numbers_cli.suppress_app, "suppress"),
    (webhooks_cli.app, "webhooks"),
    (calls_cli.app, "calls"),
    (campaigns_cli.app, "campaigns"),
    (recordings_cli.app, "recordings"),
):
    app.add_typer(sub, name=name)


def _print_version(value: bool) -> None:
    if value:
        print(f"callplane {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None, typer.Option(envvar="CALLPLANE_DATABASE_URL", help="Overrides CALLPLANE_DATABASE_URL.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = Context(database_url)
    ctx.call_on_close(ctx.obj.close)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default 127.0.0.1 (CALLPLANE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Default 8080 (CALLPLANE_PORT).")] = None,
) -> None:
    """Migrate, create the demo organisation on an empty database, and serve the API."""
    from callplane.cli.serve import run

    c: Context = ctx.obj
    run(c, host=host, port=port)


@app.command()
def worker(ctx: typer.Context) -> None:
    """Run a worker: claim queued calls, dial them, post-call, webhooks. Run several at once on
    PostgreSQL; `serve` embeds one unless CALLPLANE_EMBEDDED_WORKER=false."""
    early = EarlyStop()  # before the imports below: they take a while on a loaded host
    from callplane.cli.worker import run

    c: Context = ctx.obj
    run(c, early)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the schema to the newest revision."""
    c: Context = ctx.obj
    from callplane.store.migrate import upgrade

    upgrade(c.db)
    console().print(f"database at the newest revision ({c.settings.database_url})")


@db_app.command("downgrade")
def db_downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help='A revision ("0003") or a step back ("-1").')],
) -> None:
    """Take the schema back to an older revision (data only newer revisions hold is lost)."""
    c: Context = ctx.obj
    from callplane.store.migrate import current, downgrade

    downgrade(c.db, revision)
    console().print(f"database at revision {current(c.db)} ({c.settings.database_url})")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the schema's revision."""
    c: Context = ctx.obj
    from callplane.store.migrate import current

    print(current(c.db))


# Organisations -------------------------------------------------------------------------------


@orgs_app.command("list")
def orgs_list(ctx: typer.Context) -> None:
    c: Context = ctx.obj
    for org in c.admin.organizations():
        console().print(f"{org.id}  {org.name}")


@orgs_app.command("create")
def orgs_create(ctx: typer.Context, name: str) -> None:
    """Create an organisation (default rules: 08:00–20:00 Asia/Seoul, 10 concurrent calls)."""
    c: Context = ctx.obj
    org = c.admin.create_organization(name)
    console().print(org.id)


@orgs_app.command("show")
def orgs_show(ctx: typer.Context, org: org_option = None) -> None:
    c: Context = ctx.obj
    from callplane.api.admin import org_view

    print_json(org_view(c.admin.organization(c.org(org))))


@orgs_app.command("update")
def orgs_update(
    ctx: typer.Context,
    settings: Annotated[str, typer.Argument(help="JSON, e.g. '{\"max_concurrent_calls\": 3}'")],
    org: org_option = None,
) -> None:
    """Change settings: calling_window, max_concurrent_calls, max_queue_wait_s, caps, balance, rate."""
    c: Context = ctx.obj
    from callplane.api.admin import org_view

    try:
        changes = json.loads(settings)
    except json.JSONDecodeError as exc:
        fail(f"settings must be JSON: {exc}")
    print_json(org_view(c.admin.update_organization(c.org(org), changes)))


# Keys ----------------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "api key",
    kind: Annotated[str, typer.Option(help="bearer, or key_secret for X-API-KEY + X-API-SECRET.")] = "bearer",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="A scope the key holds (repeat); default calls:read and calls:write.", metavar="SCOPE"
        ),
    ] = None,
    org: org_option = None,
) -> None:
    """Create a key. It is printed once and stored only as a hash."""
    from callplane.domain.principal import format_scopes, parse_scopes

    c: Context = ctx.obj
    issued = c.admin.issue_key(c.org(org), name, kind=kind, scopes=parse_scopes(scope))
    print(f"id:     {issued.id}")
    print(f"scopes: {format_scopes(issued.scopes)}")
    print(f"key:    {issued.key}")
    if issued.secret:
        print(f"secret: {issued.secret}")


@keys_app.command("list")
def keys_list(ctx: typer.Context, org: org_option = None) -> None:
    from callplane.domain.principal import format_scopes

    c: Context = ctx.obj
    for k in c.admin.keys(c.org(org)):
        state = "revoked" if k.revoked_at else "active"
        console().print(
            f"{k.id}  {k.kind:<10} {k.prefix}…  {state:<8} {k.name}  (scopes: {format_scopes(k.scopes)})"
        )


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    c.admin.revoke_key(c.org(org), key_id)
    console().print(f"revoked {key_id}")


# Agents --------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")


@agents_app.command("create")
def agents_create(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", "-f", help="Agent JSON file.")],
    agent_id: Annotated[str | None, typer.Option("--id", help="Choose the agent's UUID.")] = None,
    org: org_option = None,
) -> None:
    """Create an agent from a file; it gets version 1."""
    c: Context = ctx.obj
    agent = c.admin.create_agent(c.org(org), _read_json(file), agent_id)
    console().print(f"{agent.id}  v1  {agent.name}")


@agents_app.command("update")
def agents_update(
    ctx: typer.Context,
    agent_id: str,
    file: Annotated[Path, typer.Option("--file", "-f", help="Agent JSON file.")],
    org: org_option = None,
) -> None:
    """Add a new version (versions are immutable)."""
    c: Context = ctx.obj
    version = c.admin.add_version(c.org(org), agent_id, _read_json(file))
    console().print(f"{version.agent_id}  v{version.version}")


@agents_app.command("publish")
def agents_publish(
    ctx: typer.Context, agent_id: str, version: Annotated[int, typer.Option()], org: org_option = None
) -> None:
    """Make a version the `production` version."""
    c: Context = ctx.obj
    current, previous = c.admin.publish(c.org(org), agent_id, version)
    console().print(f"production: v{current} (was {'v' + str(previous) if previous else 'none'})")


@agents_app.command("try")
def agents_try(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", "-f", help="Agent JSON file.")],
    to: Annotated[str, typer.Option("--to", help="Callee; picks the simulator scenario.")] = "01012345678",
    var: Annotated[list[str] | None, typer.Option(help="NAME=VALUE dynamic variable; repeat.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Run an agent file against the simulated line and print the conversation (no database)."""
    from callplane.cli.try_agent import run

    variables = {}
    for item in var or []:
        name, sep, value = item.partition("=")
        if not sep:
            fail(f"--var {item!r}: expected NAME=VALUE")
        variables[name] = value
    run(ctx.obj, _read_json(file), to, variables, as_json)


@agents_app.command("list")
def agents_list(ctx: typer.Context, org: org_option = None) -> None:
    c: Context = ctx.obj
    for a in c.admin.agents(c.org(org)):
        prod = f"v{a.production_version}" if a.production_version else "-"
        console().print(f"{a.id}  current v{a.current_version}  production {prod}  {a.name}")


@agents_app.command("show")
def agents_show(ctx: typer.Context, agent_id: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    from callplane.api.admin import agent_view

    agent, versions = c.admin.agent(c.org(org), agent_id)
    print_json(agent_view(agent, versions))


def main() -> None:
    try:
        app()
    except DomainError as exc:
        console().print(f"[red]error:[/red] {exc.message}")
        raise SystemExit(1) from None
