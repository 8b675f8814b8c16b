"""Campaign pages: the list, create from a pasted CSV (checked first), progress and per-task
results, pause / resume / cancel — all through `CampaignService`, as the APIs and the CLI.

Creating is two steps: "check" is the service's dry run (nothing is written) and shows every
rejected row with its line and reason; "create" creates the campaign with the rows that pass,
through the same import as the CLI and the admin API (`engine.services.campaign_import`: one CSV
reader, the Idempotency-Key of the CSV and the options), so submitting the same list twice
creates one campaign.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from callplane.domain import bounds
from callplane.domain.campaign import CampaignStatus
from callplane.domain.errors import ValidationFailed
from callplane.domain.principal import Scope
from callplane.engine.services.campaign_import import ImportOptions, import_csv, line
from callplane.engine.services.campaigns import CampaignService
from callplane.web.context import dashboard_of
from callplane.web.pages import PREFIX, WebRoute, redirect, render
from callplane.web.session import Viewer, posted_form, posted_list, viewer

router = APIRouter(prefix=PREFIX, route_class=WebRoute, include_in_schema=False)

ViewerDep = Annotated[Viewer, Depends(viewer)]
Form = Annotated[dict[str, str], Depends(posted_form)]
ListForm = Annotated[dict[str, str], Depends(posted_list)]
TASKS_PAGE = 50
#: Refresh a campaign's page this often while it can still change.
REFRESH_S = 5
ACTIONS = ("pause", "resume", "cancel")


def _service(request: Request) -> CampaignService:
    dashboard = dashboard_of(request)
    return CampaignService(dashboard.db, dashboard.clock.now_ms)


@router.get("/campaigns")
def campaigns_page(request: Request, who: ViewerDep) -> Response:
    who.principal.require(Scope.CALLS_READ)
    views = _service(request).campaigns(who.organization_id, 100, None)
    return render(request, "campaigns.html", viewer=who, views=views)


def _new_form(request: Request, who: Viewer, form: dict[str, str], **extra: Any) -> Response:
    dashboard = dashboard_of(request)
    return render(
        request,
        "campaign_new.html",
        viewer=who,
        status=extra.pop("status", 200),
        form=form,
        numbers=dashboard.admin.numbers(who.organization_id),
        agents=dashboard.admin.agents(who.organization_id),
        **{"checked": None, "message": None, **extra},
    )


@router.get("/campaigns/new")
def new_campaign_page(request: Request, who: ViewerDep) -> Response:
    who.principal.require(Scope.CALLS_WRITE)
    window = who.organization.window
    defaults = {
        "concurrency": "1",
        "start": f"{window.start_min // 60:02d}:{window.start_min % 60:02d}",
        "end": f"{window.end_min // 60:02d}:{window.end_min % 60:02d}",
        "attempts": "1",
    }
    return _new_form(request, who, defaults)


def _options(who: Viewer, form: dict[str, str]) -> ImportOptions:
    concurrency, attempts = form.get("concurrency", "1"), form.get("attempts", "1")
    if not concurrency.isdecimal():
        raise ValidationFailed.single("concurrency", "must be a whole number")
    if not attempts.isdecimal():
        raise ValidationFailed.single("attempts", "must be a whole number")
    window = who.organization.window
    return ImportOptions(
        from_number=form.get("from", ""),
        name=form.get("name", "").strip() or "campaign",
        agent_id=form.get("agent") or None,
        concurrency=int(concurrency),
        windows=[f"{form.get('start', '')}-{form.get('end', '')}"],
        days=window.days,
        timezone=window.timezone,
        attempts=int(attempts),
    )


@router.post("/campaigns/new")
def create_campaign(request: Request, who: ViewerDep, form: ListForm) -> Response:
    who.principal.require(Scope.CALLS_WRITE)
    service = _service(request)
    creating = form.get("action") == "create"
    try:
        checked = import_csv(
            service,
            who.organization_id,
            form.get("csv", "").encode(),
            _options(who, form),
            dry_run=not creating,
            max_rows=bounds.MAX_CAMPAIGN_TASKS,
        )
    except ValidationFailed as exc:
        return _new_form(request, who, form, status=400, message=exc.message)
    if checked.view is not None:
        return redirect(request, f"{PREFIX}/campaigns/{checked.view.campaign.id}")
    rejected = [(line(p), p.field, p.reason) for p in checked.rejected]
    return _new_form(request, who, form, checked={"accepted": checked.accepted, "rejected": rejected})


@router.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, campaign_id: str, who: ViewerDep) -> Response:
    who.principal.require(Scope.CALLS_READ)
    service = _service(request)
    view = service.get(who.organization_id, campaign_id)
    raw_after = request.query_params.get("after", "-1")
    if not raw_after.lstrip("-").isdecimal():
        raise ValidationFailed.single("after", "must be a task number")
    after = max(-1, int(raw_after))
    tasks = service.tasks(who.organization_id, view.campaign.id, after_seq=after, limit=TASKS_PAGE + 1)
    more = len(tasks) > TASKS_PAGE
    tasks = tasks[:TASKS_PAGE]
    status = view.campaign.status
    return render(
        request,
        "campaign.html",
        viewer=who,
        view=view,
        tasks=tasks,
        next_url=f"{PREFIX}/campaigns/{view.campaign.id}?after={tasks[-1].seq}" if more and tasks else None,
        can_pause=status.feeds and status is not CampaignStatus.PAUSED,
        can_resume=status is CampaignStatus.PAUSED,
        can_cancel=not status.is_final,
        refresh_s=REFRESH_S if not status.is_final and after < 0 else None,
    )


@router.post("/campaigns/{campaign_id}/{action}")
def campaign_action(request: Request, campaign_id: str, action: str, who: ViewerDep, form: Form) -> Response:
    who.principal.require(Scope.CALLS_WRITE)
    service = _service(request)
    if action not in ACTIONS:
        raise ValidationFailed.single("action", "is not one of the choices", list(ACTIONS))
    act = {"pause": service.pause, "resume": service.resume, "cancel": service.cancel}[action]
    view = act(who.organization_id, campaign_id)
    return redirect(request, f"{PREFIX}/campaigns/{view.campaign.id}")
