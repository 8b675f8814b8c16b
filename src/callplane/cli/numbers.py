"""`callplane numbers|presentation|splits|suppress …`: the numbers an organisation calls from and
the rules on the numbers it calls.

The CLI is the operator: `numbers add` assigns a number (refused while another organisation owns
it) and `presentation add` approves a caller ID, which an organisation's key cannot do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from callplane.cli.context import Context, console, domestic, fail, group, org_option, parse_number

if TYPE_CHECKING:
    from callplane.domain.agent import TrafficSplit

numbers_app = group("Phone numbers the organisation owns (one owner each).")
presentation_app = group("Approved presentation (caller-ID) numbers.")
splits_app = group("Traffic-split policies on a from_number.")
suppress_app = group("The do-not-call list.")


@numbers_app.command("add")
def numbers_add(
    ctx: typer.Context,
    number: str,
    label: str = "",
    provider: Annotated[str, typer.Option(help="The carrier the number is on: simulated or twilio.")] = (
        "simulated"
    ),
    inbound_agent: Annotated[
        str | None, typer.Option(help="The agent that answers calls to the number (unset: rejected).")
    ] = None,
    org: org_option = None,
) -> None:
    c: Context = ctx.obj
    owned = c.admin.add_number(
        c.org(org), parse_number(number, "number"), label, provider=provider, inbound_agent_id=inbound_agent
    )
    console().print(f"{domestic(owned.number)}  ({owned.number}, {owned.provider})")


@numbers_app.command("inbound")
def numbers_inbound(
    ctx: typer.Context,
    number: str,
    agent_id: Annotated[str | None, typer.Argument(help="Omit to reject calls to the number.")] = None,
    org: org_option = None,
) -> None:
    """Set the agent that answers calls to a number."""
    c: Context = ctx.obj
    c.admin.set_inbound_agent(c.org(org), parse_number(number, "number"), agent_id)


@numbers_app.command("list")
def numbers_list(ctx: typer.Context, org: org_option = None) -> None:
    c: Context = ctx.obj
    for n in c.admin.numbers(c.org(org)):
        inbound = f"inbound→{n.inbound_agent_id}" if n.inbound_agent_id else ""
        console().print(f"{domestic(n.number):<14} {n.number:<15} {n.provider:<10} {n.label} {inbound}")


@numbers_app.command("remove")
def numbers_remove(ctx: typer.Context, number: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    c.admin.remove_number(c.org(org), parse_number(number, "number"))


@presentation_app.command("add")
def presentation_add(
    ctx: typer.Context,
    number: str,
    unapproved: Annotated[
        bool, typer.Option(help="Record it as requested, not approved (withdraws an approval).")
    ] = False,
    org: org_option = None,
) -> None:
    """Approve a caller ID for the organisation (refused while approved for another)."""
    c: Context = ctx.obj
    added = c.admin.approve_presentation_number(c.org(org), parse_number(number, "number"), not unapproved)
    console().print(f"{domestic(added.number)}  {'approved' if added.approved else 'not approved'}")


@presentation_app.command("list")
def presentation_list(ctx: typer.Context, org: org_option = None) -> None:
    c: Context = ctx.obj
    for p in c.admin.presentation_numbers(c.org(org)):
        console().print(f"{domestic(p.number):<14} {'approved' if p.approved else 'not approved'}")


def _print_split(split: TrafficSplit) -> None:
    variants = ", ".join(f"{v.label}={v.agent_id}@{v.version_spec}×{v.weight}" for v in split.variants)
    console().print(f"{domestic(split.from_number):<14} {variants}")


@splits_app.command("set")
def splits_set(
    ctx: typer.Context,
    from_number: str,
    variant: Annotated[list[str], typer.Option(help="LABEL=AGENT_ID@VERSION:WEIGHT, repeat per variant.")],
    org: org_option = None,
) -> None:
    """Route calls from a number that name no agent across weighted agent versions."""
    c: Context = ctx.obj
    variants = []
    for item in variant:
        try:
            label, rest = item.split("=", 1)
            target, weight = rest.rsplit(":", 1)
            agent_id, _, version = target.partition("@")
            variants.append(
                {
                    "label": label,
                    "agent_id": agent_id,
                    "agent_version": version or "current",
                    "weight": int(weight),
                }
            )
        except ValueError:
            fail(f"--variant {item!r}: expected LABEL=AGENT_ID@VERSION:WEIGHT")
    _print_split(c.admin.set_traffic_split(c.org(org), parse_number(from_number, "from_number"), variants))


@splits_app.command("list")
def splits_list(ctx: typer.Context, org: org_option = None) -> None:
    c: Context = ctx.obj
    for split in c.admin.traffic_splits(c.org(org)):
        _print_split(split)


@splits_app.command("remove")
def splits_remove(ctx: typer.Context, from_number: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    c.admin.remove_traffic_split(c.org(org), parse_number(from_number, "from_number"))


@suppress_app.command("add")
def suppress_add(
    ctx: typer.Context, number: str, reason: str = "do not call", org: org_option = None
) -> None:
    c: Context = ctx.obj
    c.admin.suppress(c.org(org), parse_number(number, "number"), reason)


@suppress_app.command("list")
def suppress_list(ctx: typer.Context, org: org_option = None) -> None:
    c: Context = ctx.obj
    for s in c.admin.suppressions(c.org(org)):
        console().print(f"{domestic(s.number):<14} {s.reason}")


@suppress_app.command("remove")
def suppress_remove(ctx: typer.Context, number: str, org: org_option = None) -> None:
    c: Context = ctx.obj
    c.admin.unsuppress(c.org(org), parse_number(number, "number"))
