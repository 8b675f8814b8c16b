"""Admin pages: the organisation's agents (publish a version), numbers, caller IDs, traffic
splits, the do-not-call list (bulk import), webhook endpoints and the delivery log, API keys
(a new key is shown once), and its calling window and limits (read-only: the operator sets them).

Every page and form goes through `Admin` and `WebhookAdmin` with the same scope checks as the
admin API; another organisation's agent or endpoint id is the same 404 as one that does not
exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from callplane.domain.errors import NotFound, ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.phone import parse_any
from callplane.domain.principal import Scope
from callplane.engine.services.webhooks import TEST_EVENT, EventType, WebhookAdmin
from callplane.web.context import dashboard_of
from callplane.web.pages import PREFIX, WebRoute, redirect, render
from callplane.web.session import Viewer, posted_form, posted_list, viewer

router = APIRouter(prefix=f"{PREFIX}/admin", route_class=WebRoute, include_in_schema=False)

ViewerDep = Annotated[Viewer, Depends(viewer)]
Form = Annotated[dict[str, str], Depends(posted_form)]
ListForm = Annotated[dict[str, str], Depends(posted_list)]
#: Rows on a page of the delivery log.
DELIVERY_LOG = 100
#: What the webhooks page may say after an action (`?done=`): message keys, nothing else.
WEBHOOK_NOTICES = ("test_sent", "redelivered")


@router.get("")
def organization_page(request: Request, who: ViewerDep) -> Response:
    """The calling window and limits (read-only), numbers, caller IDs, traffic splits."""
    dashboard = dashboard_of(request)
    numbers = who.can(Scope.NUMBERS_ADMIN)
    agents = who.can(Scope.AGENTS_ADMIN)
    org = who.organization.id
    return render(
        request,
        "admin.html",
        viewer=who,
        org=who.organization,
        numbers=dashboard.admin.numbers(org) if numbers else None,
        presentations=dashboard.admin.presentation_numbers(org) if numbers else None,
        splits=dashboard.admin.traffic_splits(org) if agents else None,
        agent_names={a.id: a.name for a in dashboard.admin.agents(org)} if agents or numbers else {},
        split_rows=range(SPLIT_ROWS),
    )


@router.post("/numbers/{number}/inbound")
def set_inbound_agent(request: Request, number: str, who: ViewerDep, form: Form) -> Response:
    """The agent that answers calls to one of the organisation's numbers (none: they are
    refused): `Admin.set_inbound_agent`, as the admin API. Another organisation's number is a 404."""
    who.principal.require(Scope.NUMBERS_ADMIN)
    owned = parse_any(number, "number")
    agent = form.get("agent", "")
    dashboard_of(request).admin.set_inbound_agent(
        who.organization_id, owned, (normalize_uuid(agent) or agent) if agent else None
    )
    return redirect(request, f"{PREFIX}/admin#numbers")


@router.post("/presentation-numbers")
def request_presentation(request: Request, who: ViewerDep, form: Form) -> Response:
    who.principal.require(Scope.NUMBERS_ADMIN)
    number = parse_any(form.get("number", ""), "number")
    dashboard_of(request).admin.request_presentation_number(who.organization_id, number)
    return redirect(request, f"{PREFIX}/admin")


#: Variant rows on the traffic split form (a split of more is set through the API or the CLI).
SPLIT_ROWS = 4


@router.post("/splits")
def set_split(request: Request, who: ViewerDep, form: Form) -> Response:
    """Set a number's A/B split (`Admin.set_traffic_split`, as the admin API): one variant per
    filled row of label, agent, version and weight; rows without a label are left out."""
    who.principal.require(Scope.AGENTS_ADMIN)
    variants: list[dict[str, object]] = []
    for i in range(SPLIT_ROWS):
        label = form.get(f"label.{i}", "").strip()
        if not label:
            continue
        weight, version = form.get(f"weight.{i}", "").strip(), form.get(f"version.{i}", "").strip()
        if not weight.isdecimal():
            raise ValidationFailed.single(f"variants[{len(variants)}].weight", "must be a positive integer")
        variants.append(
            {
                "label": label,
                "agent_id": form.get(f"agent.{i}", ""),
                # A bare number is that version, as `v<N>` (the API takes both).
                "agent_version": int(version) if version.isdecimal() else version or "current",
                "weight": int(weight),
            }
        )
    number = parse_any(form.get("from", ""), "from")
    dashboard_of(request).admin.set_traffic_split(who.organization_id, number, variants)
    return redirect(request, f"{PREFIX}/admin#splits")


@router.post("/splits/remove")
def remove_split(request: Request, who: ViewerDep, form: Form) -> Response:
    who.principal.require(Scope.AGENTS_ADMIN)
    admin = dashboard_of(request).admin
    number = parse_any(form.get("from", ""), "from")
    # Turning off a split the organisation does not have would change nothing: say so.
    if not any(s.from_number == number and s.active for s in admin.traffic_splits(who.organization_id)):
        raise NotFound(f"no traffic split on {form.get('from', '')}")
    admin.remove_traffic_split(who.organization_id, number)
    return redirect(request, f"{PREFIX}/admin#splits")


@router.get("/agents")
def agents_page(request: Request, who: ViewerDep) -> Response:
    who.principal.require(Scope.AGENTS_ADMIN)
    admin = dashboard_of(request).admin
    agents = [admin.agent(who.organization_id, a.id) for a in admin.agents(who.organization_id)]
    return render(request, "admin_agents.html", viewer=who, agents=agents)


@router.post("/agents/{agent_id}/publish")
def publish(request: Request, agent_id: str, who: ViewerDep, form: Form) -> Response:
    who.principal.require(Scope.AGENTS_ADMIN)
    version = form.get("version", "")
    if not version.isdecimal():
        raise ValidationFailed.single("version", "must be a version number")
    admin = dashboard_of(request).admin
    agent, _ = admin.agent(who.organization_id, normalize_uuid(agent_id) or agent_id)
    admin.publish(who.organization_id, agent.id, int(version))
    return redirect(request, f"{PREFIX}/admin/agents")


@router.get("/suppressions")
def suppressions_page(request: Request, who: ViewerDep) -> Response:
    who.principal.require(Scope.NUMBERS_ADMIN)
    rows = dashboard_of(request).admin.suppressions(who.organization_id)
    return render(request, "admin_suppressions.html", viewer=who, rows=rows, result=None)


@router.post("/suppressions")
def import_suppressions(request: Request, who: ViewerDep, form: ListForm) -> Response:
    """One number a line, optionally `,reason`; every line is checked, good ones are added."""
    who.principal.require(Scope.NUMBERS_ADMIN)
    admin = dashboard_of(request).admin
    added, rejected = 0, []
    default_reason = form.get("reason", "").strip() or "dashboard import"
    for line_no, line in enumerate(form.get("numbers", "").splitlines(), start=1):
        raw, _, reason = line.partition(",")
        if not raw.strip():
            continue
        try:
            admin.suppress(
                who.organization_id, parse_any(raw.strip(), "number"), reason.strip() or default_reason
            )
            added += 1
        except ValidationFailed as exc:
            rejected.append((line_no, raw.strip(), exc.message))
    rows = admin.suppressions(who.organization_id)
    result = {"added": added, "rejected": rejected}
    return render(request, "admin_suppressions.html", viewer=who, rows=rows, result=result)


@router.post("/suppressions/remove")
def remove_suppression(request: Request, who: ViewerDep, form: Form) -> Response:
    who.principal.require(Scope.NUMBERS_ADMIN)
    number = parse_any(form.get("number", ""), "number")
    dashboard_of(request).admin.unsuppress(who.organization_id, number)
    return redirect(request, f"{PREFIX}/admin/suppressions")


@router.get("/webhooks")
def webhooks_page(request: Request, who: ViewerDep) -> Response:
    return _webhooks(request, who, created=None)


def _webhooks(request: Request, who: Viewer, *, created: str | None, status: int = 200) -> Response:
    who.principal.require(Scope.WEBHOOKS_ADMIN)
    webhooks = dashboard_of(request).webhooks
    before = request.query_params.get("before")
    # One row more than a page says whether there is an older page, without counting.
    log = webhooks.delivery_log(who.organization_id, DELIVERY_LOG + 1, _log_position(before))
    older = None
    if len(log) > DELIVERY_LOG:
        log = log[:DELIVERY_LOG]
        older = f"{PREFIX}/admin/webhooks?before={log[-1].created_at}.{log[-1].id}#delivery-log"
    return render(
        request,
        "admin_webhooks.html",
        viewer=who,
        status=status,
        endpoints=webhooks.endpoints(who.organization_id),
        log=log,
        older=older,
        newest=f"{PREFIX}/admin/webhooks#delivery-log" if before else None,
        events=list(EventType),
        created=created,
        notice=next((n for n in WEBHOOK_NOTICES if n == request.query_params.get("done")), None),
        test_event=TEST_EVENT,
    )


def _log_position(before: str | None) -> tuple[int, str] | None:
    """`?before=<created_at>.<delivery id>`: the last row of the page before, a keyset position
    (no OFFSET: every page costs the same on the log's index). Not signed: it only says where
    to start within the viewer's own organisation's rows."""
    if before is None:
        return None
    at, _, delivery_id = before.partition(".")
    canonical = normalize_uuid(delivery_id)
    if not at.isdecimal() or canonical is None:
        raise ValidationFailed.single("before", "must be a position from the delivery log's older link")
    return int(at), canonical


@router.post("/webhooks/{endpoint_id}/test")
def send_test_event(request: Request, endpoint_id: str, who: ViewerDep, form: Form) -> Response:
    """A `test` event to one endpoint: `WebhookAdmin.send_test`, as the admin API and the CLI."""
    return _logged(request, who, WebhookAdmin.send_test, endpoint_id, "test_sent")


@router.post("/webhooks/deliveries/{delivery_id}/redeliver")
def redeliver_logged(request: Request, delivery_id: str, who: ViewerDep, form: Form) -> Response:
    """Send a finished delivery's event again from the log: `WebhookAdmin.redeliver`, as the
    call's page and the admin API (another organisation's delivery is a 404 there)."""
    return _logged(request, who, WebhookAdmin.redeliver, delivery_id, "redelivered")


def _logged(
    request: Request,
    who: Viewer,
    action: Callable[[WebhookAdmin, str, str], object],
    target_id: str,
    notice: str,
) -> Response:
    """One webhook action that adds a row to the delivery log, then the log with `notice`."""
    who.principal.require(Scope.WEBHOOKS_ADMIN)
    action(dashboard_of(request).webhooks, who.organization_id, normalize_uuid(target_id) or target_id)
    return redirect(request, f"{PREFIX}/admin/webhooks?done={notice}#delivery-log")


@router.post("/webhooks")
def add_endpoint(request: Request, who: ViewerDep, form: Form) -> Response:
    who.principal.require(Scope.WEBHOOKS_ADMIN)
    chosen = [e.value for e in EventType if form.get(f"event.{e.value}")]
    made = dashboard_of(request).webhooks.add(
        who.organization_id,
        form.get("url", "").strip(),
        events=chosen or None,
        description=form.get("description", "").strip(),
    )
    # The signing secret is shown on this response only, like an API key.
    return _webhooks(request, who, created=made.secret)


@router.post("/webhooks/{endpoint_id}/remove")
def remove_endpoint(request: Request, endpoint_id: str, who: ViewerDep, form: Form) -> Response:
    who.principal.require(Scope.WEBHOOKS_ADMIN)
    dashboard_of(request).webhooks.remove(who.organization_id, normalize_uuid(endpoint_id) or endpoint_id)
    return redirect(request, f"{PREFIX}/admin/webhooks")


@router.get("/keys")
def keys_page(request: Request, who: ViewerDep) -> Response:
    return _keys(request, who, issued=None)


def _keys(request: Request, who: Viewer, *, issued: str | None) -> Response:
    who.principal.require(Scope.KEYS_ADMIN)
    keys = dashboard_of(request).admin.keys(who.organization_id)
    return render(request, "admin_keys.html", viewer=who, keys=keys, scopes=list(Scope), issued=issued)


@router.post("/keys")
def issue_key(request: Request, who: ViewerDep, form: Form) -> Response:
    who.principal.require(Scope.KEYS_ADMIN)
    scopes = frozenset(s for s in Scope if form.get(f"scope.{s.value}"))
    if not scopes:
        raise ValidationFailed.single("scopes", "choose at least one")
    name = form.get("name", "").strip() or "dashboard"
    made = dashboard_of(request).admin.tenant_issue_key(who.principal, name, kind="bearer", scopes=scopes)
    return _keys(request, who, issued=made.key)


@router.post("/keys/{credential_id}/revoke")
def revoke_key(request: Request, credential_id: str, who: ViewerDep, form: Form) -> Response:
    who.principal.require(Scope.KEYS_ADMIN)
    dashboard_of(request).admin.revoke_key(
        who.organization_id, normalize_uuid(credential_id) or credential_id
    )
    return redirect(request, f"{PREFIX}/admin/keys")
