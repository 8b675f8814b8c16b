"""Vox v3 campaigns: `POST /v3/campaigns`, `GET /v3/campaigns[/{id}]`, `POST
/v3/campaigns/{id}/pause|resume|cancel` (docs.tryvox.co, v3 batch calls), plus callplane's
`GET /v3/campaigns/{id}/tasks` (per-task results).

Request (Vox's names): `name`, `from_number`, `agent {agent_id, agent_version}` (omit to use the
from_number's traffic split), `tasks[{to_number, dynamic_variables, metadata}]` (at most
`bounds.MAX_CAMPAIGN_TASKS`), `presentation_number`, `scheduled_at` (ms), `concurrency` (1..100,
default 1), `call_time_window {windows[{start_min, end_min, days[Monday..Sunday]}], timezone,
auto_resume}` (default 08:00–20:00 Asia/Seoul every day): up to `MAX_WINDOWS` windows, each
with its own days, in the one time zone; the campaign calls while any is open. `auto_resume` is
accepted and always true in effect (a closed window only holds calls until the next opening).
callplane adds `retry {max_attempts, interval_min, reasons[]}`.
Every bad task row is named in the 400 (`tasks[3].to_number`, …). `Idempotency-Key` is kept
with the campaign: a repeat answers the first campaign (`Idempotent-Replayed: true`).

Response: the campaign with its counters, counted from the database when read:
`total_calls, completed_calls, failed_calls, in_progress_calls, remaining_calls,
active_concurrency`. Lists are newest first with `{items, next_cursor}`; the cursor is the last
item's position (`created_at.id`, or a task's row number), signed like call cursors (an altered
one is a 400) and scoped to the caller's organisation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from callplane.api.deps import CallsRead, CallsWrite, ServicesDep
from callplane.api.dialects.common import Mistakes, agent_uuid, freeform
from callplane.api.dialects.common import idempotency_key as checked_key
from callplane.api.dialects.vox.campaign_schemas import CampaignListV3Out, CampaignTaskListOut, CampaignV3Out
from callplane.api.dialects.vox.errors import VoxRoute
from callplane.api.dialects.vox.parse import AgentMapping
from callplane.api.dialects.vox.schemas import ERRORS
from callplane.api.responses import JSON
from callplane.domain import bounds
from callplane.domain.agent import parse_version_spec
from callplane.domain.call import DisconnectionReason
from callplane.domain.campaign import MAX_WINDOWS, NewTask, RetryRule, RowProblem, Task, TaskStatus, Windows
from callplane.domain.errors import FieldError, ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.org import CallingWindow, validate_timezone
from callplane.domain.phone import parse_kr, to_domestic
from callplane.engine.services.campaigns import CampaignDraft, CampaignService, View

router = APIRouter(route_class=VoxRoute, tags=["Vox v3 campaigns"], responses=ERRORS)

DAYS = {
    "monday": "1",
    "tuesday": "2",
    "wednesday": "3",
    "thursday": "4",
    "friday": "5",
    "saturday": "6",
    "sunday": "7",
}
DAY_NAMES = {v: k.capitalize() for k, v in DAYS.items()}


class TaskIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    to_number: str
    dynamic_variables: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class WindowIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    start_min: int = Field(ge=0, le=1439)
    end_min: int = Field(ge=1, le=1440)
    days: list[str] | None = None


class TimeWindowIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    windows: list[WindowIn] | None = None
    timezone: str = "Asia/Seoul"
    auto_resume: bool = True


class RetryIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    max_attempts: int = 1
    interval_min: int = 60
    reasons: list[str] | None = None


class CreateCampaignV3(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: str
    from_number: str
    agent: AgentMapping | None = None
    tasks: list[TaskIn] = Field(min_length=1)
    presentation_number: str | None = None
    scheduled_at: int | None = Field(default=None, ge=0, le=bounds.MAX_UNIX_MS)
    concurrency: int = 1
    call_time_window: TimeWindowIn | None = None
    retry: RetryIn | None = None


def window(raw: TimeWindowIn | None, field: str = "call_time_window") -> Windows:
    if raw is None:
        return Windows()
    zone = validate_timezone(raw.timezone)
    if not raw.windows:
        return Windows((CallingWindow(timezone=zone),))
    bounds.check_count(raw.windows, MAX_WINDOWS, f"{field}.windows")
    spans = []
    for i, w in enumerate(raw.windows):
        days = "1234567"
        if w.days is not None:
            try:
                days = "".join(sorted({DAYS[d.lower()] for d in w.days}))
            except KeyError:
                raise ValidationFailed.single(
                    f"{field}.windows[{i}].days", "must be weekday names", list(DAY_NAMES.values())
                ) from None
        try:
            spans.append(CallingWindow(zone, w.start_min, w.end_min, days))
        except ValidationFailed:
            raise ValidationFailed.single(f"{field}.windows[{i}]", "needs start_min < end_min") from None
    return Windows(tuple(spans))


def retry_rule(raw: RetryIn | None) -> RetryRule:
    if raw is None:
        return RetryRule()
    if raw.reasons is None:
        return RetryRule(raw.max_attempts, raw.interval_min)
    allowed = {r.value: r for r in DisconnectionReason}
    unknown = [r for r in raw.reasons if r not in allowed]
    if unknown:
        raise ValidationFailed.single("retry.reasons", f"{unknown[0]!r} is not a disconnection reason")
    return RetryRule(raw.max_attempts, raw.interval_min, tuple(allowed[r] for r in raw.reasons))


def tasks(raw: list[TaskIn], field: str = "tasks") -> list[NewTask | RowProblem]:
    bounds.check_count(raw, bounds.MAX_CAMPAIGN_TASKS, field)
    out: list[NewTask | RowProblem] = []
    for i, row in enumerate(raw):
        try:
            out.append(
                NewTask(
                    parse_kr(row.to_number, "to_number"),
                    freeform(row.dynamic_variables, "dynamic_variables"),
                    freeform(row.metadata, "metadata"),
                )
            )
        except ValidationFailed as exc:
            first = exc.errors[0]
            out.append(RowProblem(i, first.field, first.reason))
    return out


def draft(body: CreateCampaignV3) -> CampaignDraft:
    m = Mistakes()
    name = m.attempt(bounds.name, body.name, "name")
    from_number = m.attempt(parse_kr, body.from_number, "from_number")
    presentation = (
        m.attempt(parse_kr, body.presentation_number, "presentation_number")
        if body.presentation_number
        else None
    )
    agent_id, version = None, "current"
    if body.agent is not None:
        agent_id = m.attempt(agent_uuid, body.agent.agent_id, "agent.agent_id", "must be a UUID")
        version = m.attempt(parse_version_spec, body.agent.agent_version or "current") or "current"
    calling = m.attempt(window, body.call_time_window)
    rule = m.attempt(retry_rule, body.retry)
    rows = m.attempt(tasks, body.tasks)
    m.raise_any()
    assert name and from_number and calling and rule and rows is not None, "raise_any() would have raised"
    return CampaignDraft(
        name=name,
        from_number=from_number,
        tasks=rows,
        agent_id=agent_id,
        agent_version=version,
        presentation_number=presentation,
        scheduled_at=body.scheduled_at,
        window=calling,
        concurrency=body.concurrency,
        retry=rule,
    )


def render(view: View) -> dict[str, Any]:
    c, n = view.campaign, view.counters
    return {
        "id": c.id,
        "name": c.name,
        "status": c.status.value,
        "paused_by": c.paused_by.value if c.paused_by else None,
        "from_number": to_domestic(c.from_number),
        "agent": {"agent_id": c.agent_id, "agent_version": c.agent_version} if c.agent_id else None,
        "presentation_number": to_domestic(c.presentation_number) if c.presentation_number else None,
        "scheduled_at": c.scheduled_at,
        "concurrency": c.concurrency,
        "call_time_window": {
            "windows": [
                {"start_min": w.start_min, "end_min": w.end_min, "days": [DAY_NAMES[d] for d in w.days]}
                for w in c.window.spans
            ],
            "timezone": c.window.timezone,
            "auto_resume": True,
        },
        "retry": c.retry.to_json(),
        "total_calls": n.total,
        "completed_calls": n.completed,
        "failed_calls": n.failed,
        "in_progress_calls": n.in_progress,
        "remaining_calls": n.remaining,
        "active_concurrency": n.active_concurrency,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "started_at": c.started_at,
        "finished_at": c.finished_at,
    }


def render_task(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.seq,
        "to_number": to_domestic(task.to_number),
        "dynamic_variables": task.dynamic_variables,
        "metadata": task.metadata,
        "status": task.status.value,
        "attempts": task.attempts,
        "call_ids": task.call_ids,
        "last_reason": task.last_reason,
        "updated_at": task.updated_at,
    }


def service(services: ServicesDep) -> CampaignService:
    return CampaignService(services.db, services.clock.now_ms)


@router.post("/v3/campaigns", status_code=201, response_model=CampaignV3Out, summary="Create a campaign")
def create_campaign(
    body: CreateCampaignV3,
    org: CallsWrite,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSON:
    checked_key(idempotency_key, "Idempotency-Key")
    checked = service(services).create(org, draft(body), idempotency_key=idempotency_key)
    assert checked.view is not None, "not a dry run"
    headers = {"Idempotent-Replayed": "true"} if checked.replayed else None
    return JSON(render(checked.view), status_code=201, headers=headers)


def _query(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = [name for name in request.query_params if name not in allowed]
    if unknown:
        raise ValidationFailed(
            [FieldError(n, "is not a known query parameter", list(allowed)) for n in unknown]
        )
    return dict(request.query_params)


def _limit(value: str | None) -> int:
    if value is None:
        return 50
    if not value.isdecimal() or not 1 <= int(value) <= 100:
        raise ValidationFailed.single("limit", "must be an integer between 1 and 100")
    return int(value)


def _campaign_cursor(services: ServicesDep, token: str | None) -> tuple[int, str] | None:
    if not token:
        return None
    created, _, cid = services.cursors.unsign(token).partition(".")
    canonical = normalize_uuid(cid)
    if not created.isdecimal() or canonical is None or int(created) > bounds.MAX_UNIX_MS:
        raise ValidationFailed.single("cursor", "is not a cursor returned by this API")
    return int(created), canonical


@router.get("/v3/campaigns", response_model=CampaignListV3Out, summary="List campaigns")
def list_campaigns(request: Request, org: CallsRead, services: ServicesDep) -> JSON:
    params = _query(request, ("limit", "cursor"))
    limit = _limit(params.get("limit"))
    views = service(services).campaigns(org, limit + 1, _campaign_cursor(services, params.get("cursor")))
    more = len(views) > limit
    views = views[:limit]
    last = views[-1].campaign if views and more else None
    return JSON(
        {
            "items": [render(v) for v in views],
            "next_cursor": services.cursors.sign(f"{last.created_at}.{last.id}") if last else None,
        }
    )


@router.get(
    "/v3/campaigns/{campaign_id}", response_model=CampaignV3Out, summary="Get a campaign with its counters"
)
def get_campaign(campaign_id: str, org: CallsRead, services: ServicesDep) -> JSON:
    return JSON(render(service(services).get(org, campaign_id)))


@router.post(
    "/v3/campaigns/{campaign_id}/pause",
    response_model=CampaignV3Out,
    summary="Pause a campaign: no new dials",
)
def pause_campaign(campaign_id: str, org: CallsWrite, services: ServicesDep) -> JSON:
    return JSON(render(service(services).pause(org, campaign_id)))


@router.post(
    "/v3/campaigns/{campaign_id}/resume", response_model=CampaignV3Out, summary="Resume a paused campaign"
)
def resume_campaign(campaign_id: str, org: CallsWrite, services: ServicesDep) -> JSON:
    return JSON(render(service(services).resume(org, campaign_id)))


@router.post(
    "/v3/campaigns/{campaign_id}/cancel",
    response_model=CampaignV3Out,
    summary="Cancel a campaign: queued calls end canceled, live calls finish",
)
def cancel_campaign(campaign_id: str, org: CallsWrite, services: ServicesDep) -> JSON:
    return JSON(render(service(services).cancel(org, campaign_id)))


@router.get(
    "/v3/campaigns/{campaign_id}/tasks",
    response_model=CampaignTaskListOut,
    summary="List a campaign's tasks and their results",
)
def list_tasks(campaign_id: str, request: Request, org: CallsRead, services: ServicesDep) -> JSON:
    params = _query(request, ("limit", "cursor", "status"))
    limit = _limit(params.get("limit"))
    token = params.get("cursor")
    cursor = services.cursors.unsign(token) if token else None
    if cursor is not None and not (cursor.isdecimal() and int(cursor) < 2**31):
        raise ValidationFailed.single("cursor", "is not a cursor returned by this API")
    status = None
    if "status" in params:
        try:
            status = TaskStatus(params["status"])
        except ValueError:
            raise ValidationFailed.single(
                "status", "is not a task status", [s.value for s in TaskStatus]
            ) from None
    found = service(services).tasks(
        org, campaign_id, after_seq=int(cursor) if cursor else -1, limit=limit + 1, status=status
    )
    more = len(found) > limit
    found = found[:limit]
    return JSON(
        {
            "items": [render_task(t) for t in found],
            "next_cursor": services.cursors.sign(str(found[-1].seq)) if more else None,
        }
    )
