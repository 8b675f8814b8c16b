"""The operator's view: every organisation with its balance, rate, limits and calling window,
and its live and due calls right now.

Opened by signing in with `CALLPLANE_OPERATOR_TOKEN` (the same form as an organisation key; see
`session.operator`). Read-only: changes go through the operator API or the CLI.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from callplane.web.context import dashboard_of
from callplane.web.pages import PREFIX, WebRoute, render
from callplane.web.session import operator

router = APIRouter(
    prefix=PREFIX, route_class=WebRoute, include_in_schema=False, dependencies=[Depends(operator)]
)
#: Refresh the live counts this often.
REFRESH_S = 5


@router.get("/operator")
def operator_page(request: Request) -> Response:
    dashboard = dashboard_of(request)
    organizations = sorted(dashboard.admin.organizations(), key=lambda o: o.name)
    activity = dashboard.calls.activity()
    return render(
        request,
        "operator.html",
        operator=True,
        organizations=organizations,
        activity=activity,
        total_live=sum(a.live for a in activity.values()),
        total_due=sum(a.queued_due for a in activity.values()),
        refresh_s=REFRESH_S,
    )
