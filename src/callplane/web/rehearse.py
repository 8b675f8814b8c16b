"""Rehearse an agent version on the simulated line from the browser (what `callplane agents try`
does) and watch the conversation appear: the form starts a rehearsal (`web/rehearsals.py`) and
sends the browser to its page, which htmx refreshes every second until the rehearsal is over.
Nothing is stored: a rehearsal is no call.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from callplane.config import Settings
from callplane.domain.errors import ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.phone import parse_any
from callplane.domain.principal import Scope
from callplane.web.context import dashboard_of
from callplane.web.pages import PREFIX, WebRoute, redirect, render
from callplane.web.session import Viewer, posted_form, viewer

router = APIRouter(prefix=f"{PREFIX}/admin/agents", route_class=WebRoute, include_in_schema=False)

ViewerDep = Annotated[Viewer, Depends(viewer)]
Form = Annotated[dict[str, str], Depends(posted_form)]
#: How often a running rehearsal's page asks for the conversation so far.
POLL_S = 1


@router.get("/{agent_id}/rehearse")
def rehearse_page(request: Request, agent_id: str, who: ViewerDep) -> Response:
    who.principal.require(Scope.AGENTS_ADMIN)
    agent, versions = dashboard_of(request).admin.agent(
        who.organization_id, normalize_uuid(agent_id) or agent_id
    )
    form = {"to": "01012345678", "version": str(agent.current_version)}
    return render(
        request, "admin_rehearse.html", viewer=who, agent=agent, versions=versions, form=form, live=None
    )


@router.post("/{agent_id}/rehearse")
def rehearse(request: Request, agent_id: str, who: ViewerDep, form: Form) -> Response:
    """Start a version on the simulated line; its page shows the conversation as it goes."""
    who.principal.require(Scope.AGENTS_ADMIN)
    dashboard = dashboard_of(request)
    agent, versions = dashboard.admin.agent(who.organization_id, normalize_uuid(agent_id) or agent_id)
    chosen = next((v for v in versions if str(v.version) == form.get("version")), None)
    if chosen is None:
        raise ValidationFailed.single("version", "no such version of this agent")
    variables: dict[str, Any] = {}
    for line in form.get("vars", "").splitlines():
        name, eq, value = line.partition("=")
        if not line.strip():
            continue
        if not eq or not name.strip():
            raise ValidationFailed.single("vars", "each line must be NAME=VALUE")
        variables[name.strip()] = value.strip()
    to = form.get("to", "")
    parse_any(to, "to")  # a bad number is this form's 400, not a failed rehearsal
    kept = {k: form.get(k, "") for k in ("version", "to", "vars")}
    started = dashboard.rehearsals.start(dashboard.settings or Settings(), chosen, to, variables, kept)
    return redirect(request, f"{PREFIX}/admin/agents/{agent.id}/rehearsals/{started.id}")


@router.get("/{agent_id}/rehearsals/{rehearsal_id}")
def rehearsal_page(request: Request, agent_id: str, rehearsal_id: str, who: ViewerDep) -> Response:
    who.principal.require(Scope.AGENTS_ADMIN)
    dashboard = dashboard_of(request)
    agent, versions = dashboard.admin.agent(who.organization_id, normalize_uuid(agent_id) or agent_id)
    live = dashboard.rehearsals.get(who.organization_id, rehearsal_id)
    if live.agent_id != agent.id:
        raise ValidationFailed.single("rehearsal_id", "is a rehearsal of another agent")
    return render(
        request,
        "admin_rehearse.html",
        viewer=who,
        agent=agent,
        versions=versions,
        form=live.form,
        live=live,
        poll_s=POLL_S,
    )
