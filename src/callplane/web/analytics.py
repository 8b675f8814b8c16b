"""The analytics page: the KPI strip and charts for a chosen period, over the calls list's filters.

The filter form is the calls list's (`filters.parse` → `CallQuery`), so a chart always describes
the calls the list shows for the same URL parameters; the aggregates are `CallService.report`
(grouped statements in `store.reports`, over its rollups), drawn by `charts` as SVG.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from callplane.domain.principal import Scope
from callplane.store.reports import Kpis, OutcomeTally, Report
from callplane.web import charts, filters
from callplane.web import format as fmt
from callplane.web.context import dashboard_of
from callplane.web.i18n import translator
from callplane.web.pages import PREFIX, WebRoute, render
from callplane.web.session import Viewer, language, viewer

router = APIRouter(prefix=PREFIX, route_class=WebRoute, include_in_schema=False)

ViewerDep = Annotated[Viewer, Depends(viewer)]
#: The label of calls without a reason or sentiment yet (queued, live, not analysed).
NONE = "—"


@router.get("/analytics")
def analytics_page(request: Request, who: ViewerDep) -> Response:
    who.principal.require(Scope.CALLS_READ)
    dashboard = dashboard_of(request)
    now = dashboard.clock.now_ms()
    timezone = who.organization.window.timezone
    form = filters.anchored(filters.parse(request.query_params), now)
    query = filters.to_query(form, who.organization_id, now, timezone)
    planned = charts.period(query.listed_at.low, query.listed_at.high, timezone)
    report = dashboard.calls.report(query, planned.folds if planned else None)
    wanted = filters.success_field(request.query_params)
    agents = dashboard.admin.agents(who.organization_id)
    names = {a.id: a.name for a in agents}
    t = translator(language(request))
    if planned:
        slots, hourly = planned.names, planned.hourly
    else:  # an open range: the buckets span the calls found
        slots, hourly = charts.buckets(report, query.listed_at.low, query.listed_at.high, timezone)
    by_agent, by_variant = _groups(report, names)
    return render(
        request,
        "analytics.html",
        viewer=who,
        form=form,
        agents=agents,
        presets=list(filters.Preset),
        kpis=report.kpis,
        success_text=wanted.text,
        success_qs=form.query_string(success=wanted.text),
        hourly=hourly,
        volume=charts.volume(report, slots, hourly, timezone, t),
        cost=charts.cost(report, slots, hourly, timezone, fmt.won),
        reasons=charts.bars(
            _count_by(report, lambda o: t("reason." + o.reason.value) if o.reason else NONE, "reason")
        ),
        sentiments=charts.bars(
            _count_by(
                report,
                lambda o: t("sentiment." + (o.sentiment.value if o.sentiment else "unknown")),
                "sentiment",
            )
        ),
        by_agent=charts.table(by_agent),
        by_variant=charts.table(by_variant),
        calls_qs=form.query_string(),
    )


@router.get("/analytics/success")
def success_fragment(request: Request, who: ViewerDep) -> Response:
    """The strip's success rate, loaded after the page: it reads every listed call's analysis
    (JSON, `store/success.py`), which costs more than the rest of the strip at a large
    organisation, so it must not hold the list or the charts up."""
    who.principal.require(Scope.CALLS_READ)
    dashboard = dashboard_of(request)
    now = dashboard.clock.now_ms()
    form = filters.anchored(filters.parse(request.query_params), now)
    query = filters.to_query(form, who.organization_id, now, who.organization.window.timezone)
    wanted = filters.success_field(request.query_params)
    found = dashboard.calls.success(query, wanted.field, wanted.value)
    return render(request, "kpi_success.html", viewer=who, success=found, success_text=wanted.text)


def _count_by(report: Report, key: Callable[[OutcomeTally], str], cls: str) -> list[tuple[str, int, str]]:
    counts: dict[str, int] = defaultdict(int)
    for o in report.outcomes:
        counts[key(o)] += o.tally.calls
    return [(label, n, cls) for label, n in counts.items()]


def _groups(report: Report, names: dict[str, str]) -> tuple[dict[str, Kpis], dict[str, Kpis]]:
    by_agent: dict[str, Kpis] = defaultdict(Kpis)
    by_variant: dict[str, Kpis] = defaultdict(Kpis)
    for a in report.agents:
        agent = names.get(a.agent_id, a.agent_id[:8])
        by_agent[agent] += a.tally
        if a.variant_label:
            by_variant[f"{a.variant_label} ({agent})"] += a.tally
    return by_agent, by_variant
