"""`callplane webhooks …`: webhook endpoints and the agent-URL signing secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from callplane.cli.context import Context, console, org_option

if TYPE_CHECKING:
    from callplane.engine.services.webhooks import WebhookAdmin

app = typer.Typer(no_args_is_help=True, help="Webhook endpoints (signed per Standard Webhooks).")


def _webhooks(c: Context) -> WebhookAdmin:
    from callplane.engine.services.webhooks import WebhookAdmin

    return WebhookAdmin(c.db, c.admin.now, c.settings.allow_private_destinations)


@app.command("add")
def webhooks_add(
    ctx: typer.Context,
    url: str,
    event: Annotated[
        list[str] | None, typer.Option(help="call_started, call_ended, call_analyzed; repeat. Default: all.")
    ] = None,
    agent: Annotated[str | None, typer.Option(help="Only this agent's calls.")] = None,
    description: str = "",
    org: org_option = None,
) -> None:
    """Add an endpoint. Its signing secret is printed once."""
    c: Context = ctx.obj
    created = _webhooks(c).add(c.org(org), url, events=event, agent_id=agent, description=description)
    print(f"id:     {created.endpoint.id}")
    print(f"events: {', '.join(created.endpoint.events)}")
    print(f"secret: {created.secret}")


@app.command("list")
def webhooks_list(ctx: typer.Context, org: org_option = None) -> None:
    c: Context = ctx.obj
    for e in _webhooks(c).endpoints(c.org(org)):
        state = "enabled" if e.enabled else f"disabled ({e.disabled_reason})"
        scope = f"agent {e.agent_id}" if e.agent_id else "all agents"
        console.print(f"{e.id}  {e.url}  [{', '.join(e.events)}]  {scope}  {state}")


@app.command("remove")
def webhooks_remove(ctx: typer.Context, endpoint_id: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    _webhooks(c).remove(c.org(org), endpoint_id)


@app.command("agent-secret")
def webhooks_agent_secret(ctx: typer.Context, org: org_option = None) -> None:
    """Rotate the secret that signs deliveries to agents' own webhook_url; printed once."""
    c: Context = ctx.obj
    print(f"secret: {_webhooks(c).rotate_agent_url_secret(c.org(org))}")
