"""`callplane webhooks …`: webhook endpoints and the agent-URL signing secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from callplane.cli.context import Context, console, fail, group, org_option

if TYPE_CHECKING:
    from callplane.engine.services.webhooks import WebhookAdmin
    from callplane.store.deliveries import DeliveryLog

app = group("Webhook endpoints (Vox's format signed per Standard Webhooks, or Retell's), deliveries, tests.")


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
    format: Annotated[
        str, typer.Option("--format", help="vox (Standard Webhooks) or retell (X-Retell-Signature).")
    ] = "vox",
    secret: Annotated[
        str | None, typer.Option(help="Sign with this key (24-100 characters) instead of a new one.")
    ] = None,
    org: org_option = None,
) -> None:
    """Add an endpoint. Its signing secret is printed once."""
    c: Context = ctx.obj
    created = _webhooks(c).add(
        c.org(org), url, events=event, agent_id=agent, description=description, format=format, secret=secret
    )
    print(f"id:     {created.endpoint.id}")
    print(f"format: {created.endpoint.format}")
    print(f"events: {', '.join(created.endpoint.events)}")
    print(f"secret: {created.secret}")


@app.command("list")
def webhooks_list(ctx: typer.Context, org: org_option = None) -> None:
    c: Context = ctx.obj
    for e in _webhooks(c).endpoints(c.org(org)):
        state = "enabled" if e.enabled else f"disabled ({e.disabled_reason})"
        scope = f"agent {e.agent_id}" if e.agent_id else "all agents"
        console().print(f"{e.id}  {e.url}  {e.format}  [{', '.join(e.events)}]  {scope}  {state}")


@app.command("remove")
def webhooks_remove(ctx: typer.Context, endpoint_id: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    _webhooks(c).remove(c.org(org), endpoint_id)


@app.command("agent-secret")
def webhooks_agent_secret(ctx: typer.Context, org: org_option = None) -> None:
    """Rotate the secret that signs deliveries to agents' own webhook_url; printed once."""
    c: Context = ctx.obj
    print(f"secret: {_webhooks(c).rotate_agent_url_secret(c.org(org))}")


def _print_delivery(d: DeliveryLog) -> None:
    last = d.log[-1] if d.log else None
    result = "" if last is None else f"  last: {last.status_code or '-'} {last.error or 'ok'}"
    console().print(f"{d.id}  {d.event_type}  {d.url}  {d.status.value}  attempts {d.attempts}{result}")


@app.command("deliveries")
def webhooks_deliveries(ctx: typer.Context, subject_id: str, org: org_option = None) -> None:
    """Every delivery of a call's events (or a campaign's, or an endpoint's test events: pass
    its id)."""
    c: Context = ctx.obj
    for d in _webhooks(c).deliveries(c.org(org), subject_id):
        _print_delivery(d)


@app.command("redeliver")
def webhooks_redeliver(ctx: typer.Context, delivery_id: str, org: org_option = None) -> None:
    """Send a finished delivery's event again (same event id and body); a worker delivers it."""
    c: Context = ctx.obj
    _print_delivery(_webhooks(c).redeliver(c.org(org), delivery_id))


@app.command("test")
def webhooks_test(
    ctx: typer.Context,
    endpoint_id: str,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the first attempt (0: do not wait).")] = 30,
    org: org_option = None,
) -> None:
    """Send a test event to an endpoint, in its format and signed like its events.

    A running worker (or `serve`) delivers it; this waits for the first attempt and prints it.
    Exits 1 when the attempt failed or none was made in time."""
    import time

    from callplane.store.outbox import DeliveryStatus

    c: Context = ctx.obj
    webhooks, organization = _webhooks(c), c.org(org)
    delivery = webhooks.send_test(organization, endpoint_id)
    deadline = time.monotonic() + wait
    while not delivery.log and time.monotonic() < deadline:
        time.sleep(0.2)
        delivery = webhooks.delivery(organization, delivery.id)
    _print_delivery(delivery)
    if wait and delivery.status is not DeliveryStatus.DELIVERED:
        fail("no attempt yet: is a worker running?" if not delivery.log else "the endpoint did not accept it")
