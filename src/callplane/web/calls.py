"""The calls list (filters, keyset pages, export) and a call's page (transcript, deliveries and
their redelivery, cancel).

Everything goes through `CallService`, like the APIs: `list` with the `CallQuery` the filter
form builds, `get` scoped to the viewer's organisation (another organisation's call id is a
404), `cancel` with the same rules as `DELETE`/`POST …/end` in every dialect. Pages are signed
keyset cursors from `Cursors`, so a cursor from the dashboard is as unforgeable as the APIs'.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.responses import StreamingResponse

from callplane.domain.call import Call, CallStatus, CallType, Direction, DisconnectionReason, Sentiment
from callplane.domain.errors import NotFound, ValidationFailed
from callplane.domain.principal import Scope
from callplane.domain.query import CallQuery, CountMode, Cursor
from callplane.domain.search import flatten
from callplane.web import export, filters, waiting, waveform
from callplane.web import format as fmt
from callplane.web.context import Dashboard, dashboard_of
from callplane.web.pages import PREFIX, WebRoute, is_htmx, redirect, render
from callplane.web.session import Viewer, posted_form, viewer

router = APIRouter(prefix=PREFIX, route_class=WebRoute, include_in_schema=False)

ViewerDep = Annotated[Viewer, Depends(viewer)]
Form = Annotated[dict[str, str], Depends(posted_form)]
#: Refresh the list this often while a call on it is queued or live.
REFRESH_S = 5
#: What a call's page may say after a cancel or a redelivery (`?done=`): message keys, nothing else.
NOTICES = ("canceled_done", "end_requested", "redelivered")


def _in_progress(call: Call) -> bool:
    return not call.status.is_terminal


@router.get("/calls")
def calls_page(request: Request, who: ViewerDep) -> Response:
    who.principal.require(Scope.CALLS_READ)
    dashboard = dashboard_of(request)
    partial = is_htmx(request) and request.headers.get("hx-target") == "calls-table"
    form = filters.Filters()
    try:
        form = filters.anchored(filters.parse(request.query_params), dashboard.clock.now_ms())
        context = _list(request, dashboard, who, form)
        status = 200
    except ValidationFailed as exc:
        # The form stays on the page with the problem where the table was.
        context = {"error": True, "message": exc.message, "form": form, "refresh_s": None}
        status = 400
    agents = dashboard.admin.agents(who.organization_id)
    context["agent_names"] = {a.id: a.name for a in agents}
    context.setdefault("success_text", request.query_params.get("success", ""))
    if partial:
        return render(request, "calls_table.html", viewer=who, status=status, **context)
    return render(
        request,
        "calls.html",
        viewer=who,
        status=status,
        agents=agents,
        statuses=list(CallStatus),
        reasons=list(DisconnectionReason),
        types=list(CallType),
        directions=list(Direction),
        sentiments=list(Sentiment),
        presets=list(filters.Preset),
        **context,
    )


def _list(request: Request, dashboard: Dashboard, who: Viewer, form: filters.Filters) -> dict[str, Any]:
    timezone = who.organization.window.timezone
    query = filters.to_query(form, who.organization_id, dashboard.clock.now_ms(), timezone)
    token = request.query_params.get("cursor")
    if token:
        query = query.next_page(dashboard.cursors.decode(token, query, "cursor"))
    page = dashboard.calls.list(query)
    wanted = filters.success_field(request.query_params)
    next_url = None
    if page.next_cursor is not None:
        next_url = f"{PREFIX}/calls?" + form.query_string(
            cursor=dashboard.cursors.encode(query, page.next_cursor)
        )
    return {
        "error": False,
        "success_text": wanted.text,
        # The set's total and KPI strip come after the page (`summary_fragment`).
        "summary_url": f"{PREFIX}/calls/summary?" + form.query_string(success=wanted.text),
        "form": form,
        "page": page,
        "next_url": next_url,
        "first_url": f"{PREFIX}/calls?" + form.query_string() if token else None,
        "self_url": request.url.path + ("?" + request.url.query if request.url.query else ""),
        "export_qs": form.query_string(),
        # Only the first page refreshes itself: a later page's calls are older and settled.
        "refresh_s": REFRESH_S if not token and any(_in_progress(c) for c in page.calls) else None,
        "texts": {c.id: flatten(c.transcript) for c in page.calls} if form.q else {},
    }


@router.get("/calls/export.{kind}")
def export_calls(request: Request, kind: str, who: ViewerDep) -> Response:
    """The whole filtered set, streamed a page at a time (keyset: each page costs the same)."""
    who.principal.require(Scope.CALLS_READ)
    if kind not in export.KINDS:
        raise NotFound(f"no export format {kind!r}")
    dashboard = dashboard_of(request)
    timezone = who.organization.window.timezone
    form = filters.parse(request.query_params)
    query = filters.to_query(
        form, who.organization_id, dashboard.clock.now_ms(), timezone, limit=export.PAGE_ROWS
    )
    # No transcripts: the export has no snippet column, and they are the bulk of a row.
    query = replace(query, include_transcript=False)
    lines = export.lines(kind, _pages(dashboard, query), timezone)
    return StreamingResponse(
        lines,
        media_type=export.KINDS[kind],
        headers={"Content-Disposition": f'attachment; filename="calls.{kind}"', "Cache-Control": "no-store"},
    )


@router.get("/calls/summary")
def summary_fragment(request: Request, who: ViewerDep) -> Response:
    """The filtered set's total and KPI strip, swapped in after the list. Both read every
    matching call — a common word's or a metadata filter's matches cost seconds at a large
    organisation — while a page reads only its first rows, so the list is not held up by them."""
    who.principal.require(Scope.CALLS_READ)
    dashboard = dashboard_of(request)
    now = dashboard.clock.now_ms()
    form = filters.anchored(filters.parse(request.query_params), now)
    query = filters.to_query(
        form, who.organization_id, now, who.organization.window.timezone, limit=1, count=CountMode.EXACT
    )
    wanted = filters.success_field(request.query_params)
    return render(
        request,
        "calls_summary.html",
        viewer=who,
        total=dashboard.calls.list(replace(query, include_transcript=False)).total,
        kpis=dashboard.calls.kpis(query),
        success_text=wanted.text,
        success_qs=form.query_string(success=wanted.text),
    )


def _pages(dashboard: Dashboard, query: CallQuery) -> Iterator[list[Call]]:
    # A generator: Starlette runs each step in the thread pool, one read transaction a page.
    cursor: Cursor | None = None
    while True:
        page = dashboard.calls.list(query if cursor is None else query.next_page(cursor))
        yield page.calls
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@router.get("/calls/{call_id}")
def call_page(request: Request, call_id: str, who: ViewerDep) -> Response:
    who.principal.require(Scope.CALLS_READ)
    dashboard = dashboard_of(request)
    call = dashboard.calls.get(who.organization_id, call_id)
    if dashboard.recordings is not None:
        call = dashboard.recordings.linked(str(request.base_url))(call)
    deliveries = (
        dashboard.webhooks.deliveries(who.organization_id, call.id) if who.can(Scope.WEBHOOKS_ADMIN) else None
    )
    outlook = dashboard.calls.outlook(call)
    show = partial(fmt.local_time, timezone=who.organization.window.timezone)
    return render(
        request,
        "call.html",
        viewer=who,
        call=call,
        waiting=waiting.explain(outlook, dashboard.clock.now_ms(), show, fmt.won) if outlook else None,
        figures=waiting.figures(outlook, fmt.won) if outlook else [],
        deliveries=deliveries,
        q=request.query_params.get("q", ""),
        notice=next((n for n in NOTICES if n == request.query_params.get("done")), None),
        refresh_s=REFRESH_S if _in_progress(call) else None,
    )


@router.get("/calls/{call_id}/waveform")
def waveform_fragment(request: Request, call_id: str, who: ViewerDep) -> Response:
    """The recording's peaks as an SVG, swapped in above the player once the page is there."""
    who.principal.require(Scope.CALLS_READ)
    dashboard = dashboard_of(request)
    call = dashboard.calls.get(who.organization_id, call_id)
    wave = None
    if dashboard.waveforms is not None and call.recording_key and not call.opt_out_sensitive_data_storage:
        wave = dashboard.waveforms.of(call.recording_key)
    return render(request, "waveform.html", viewer=who, wave=wave, scale=waveform.SCALE)


@router.post("/calls/{call_id}/cancel")
def cancel_call(request: Request, call_id: str, who: ViewerDep, form: Form) -> Response:
    """Cancel a queued call or ask the worker to end a live one: `CallService.cancel`, as the APIs."""
    who.principal.require(Scope.CALLS_WRITE)
    dashboard = dashboard_of(request)
    was_queued = dashboard.calls.get(who.organization_id, call_id).status is CallStatus.QUEUED
    call = dashboard.calls.cancel(who.organization_id, call_id)
    done = "canceled_done" if was_queued and call.status is CallStatus.CANCELED else "end_requested"
    return redirect(request, f"{PREFIX}/calls/{call.id}?done={done}")


@router.post("/calls/{call_id}/deliveries/{delivery_id}/redeliver")
def redeliver(request: Request, call_id: str, delivery_id: str, who: ViewerDep, form: Form) -> Response:
    """Send a finished webhook delivery's event again: `WebhookAdmin.redeliver`, as the admin API."""
    who.principal.require(Scope.WEBHOOKS_ADMIN)
    dashboard = dashboard_of(request)
    call = dashboard.calls.get(who.organization_id, call_id)
    if not any(d.id == delivery_id for d in dashboard.webhooks.deliveries(who.organization_id, call.id)):
        raise NotFound(f"webhook delivery {delivery_id} not found")
    dashboard.webhooks.redeliver(who.organization_id, delivery_id)
    return redirect(request, f"{PREFIX}/calls/{call.id}?done=redelivered#webhooks")
