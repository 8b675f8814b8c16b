"""Retell's batch calls: `POST /create-batch-call`, a callplane campaign in Retell's words.

- `from_number`, `tasks[].to_number`: E.164. `tasks[].retell_llm_dynamic_variables` → the
  task's dynamic variables, `tasks[].metadata` kept. A batch runs one agent:
  `override_agent_id` (and `override_agent_version`) must be the same on every task that names
  one; none names one → the from_number's traffic split. `agent_override` and
  `custom_sip_headers` are not supported (400 when non-empty).
- `trigger_timestamp` → the scheduled start; `call_time_window {windows[{start, end}], day[],
  timezone}` (Retell's default time zone, America/Los_Angeles, when a window names none; no
  window: any hour the organisation's own window allows); up to `MAX_WINDOWS` windows, the days
  applying to each.
- `reserved_concurrency`: slots kept for other calls, so the batch runs at the organisation's
  limit minus it (at least 1, at most 100).
- Answers 201 with `{batch_call_id, name, from_number, scheduled_timestamp, total_task_count,
  call_time_window}`. Every bad task row is named (`tasks[3].to_number`).
- `GET /get-batch-call/{batch_call_id}` (callplane; Retell's SDK only creates): the same object
  plus `status`, `paused_by`, `completed_task_count`, `failed_task_count`,
  `in_progress_task_count`, `remaining_task_count`, `active_concurrency`, `started_timestamp`,
  `finished_timestamp`. Pausing and cancelling go through the Vox campaign paths with the same
  id. Calls made for the batch carry `batch_call_id` (and the v3 call list filters on it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from callplane.api.deps import CallsRead, CallsWrite, ServicesDep
from callplane.api.dialects.common import freeform, renamed
from callplane.api.dialects.retell.errors import RetellRoute
from callplane.api.dialects.retell.parse import CORE_FIELDS, agent_version
from callplane.api.dialects.vox.campaigns import DAY_NAMES, DAYS
from callplane.api.responses import JSON
from callplane.domain import bounds
from callplane.domain.campaign import MAX_WINDOWS, NewTask, RowProblem, Windows
from callplane.domain.errors import ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.org import CallingWindow, validate_timezone
from callplane.domain.phone import parse_e164
from callplane.engine.services.campaigns import CampaignDraft, CampaignService, View

router = APIRouter(route_class=RetellRoute, tags=["Retell"])


class BatchWindowSpanOut(BaseModel):
    start: int
    end: int


class BatchTimeWindowOut(BaseModel):
    windows: list[BatchWindowSpanOut]
    day: list[str]
    timezone: str


class BatchCallOut(BaseModel):
    """What `batch_object` renders (the handlers return it pre-rendered)."""

    batch_call_id: str
    name: str
    from_number: str
    scheduled_timestamp: int
    total_task_count: int
    call_time_window: BatchTimeWindowOut | None
    status: str
    paused_by: str | None
    completed_task_count: int
    failed_task_count: int
    in_progress_task_count: int
    remaining_task_count: int
    active_concurrency: int
    started_timestamp: int | None
    finished_timestamp: int | None


RETELL_TIMEZONE = "America/Los_Angeles"


class BatchTask(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_number: str
    retell_llm_dynamic_variables: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    override_agent_id: str | None = None
    override_agent_version: int | str | None = None
    agent_override: dict[str, Any] | None = None
    custom_sip_headers: dict[str, str] | None = None
    ignore_e164_validation: bool | None = None


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: float = Field(ge=0, le=1439)
    end: float = Field(ge=1, le=1440)


class TimeWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    windows: list[Window] = Field(min_length=1)
    day: list[str] | None = None
    timezone: str | None = None


class CreateBatchCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_number: str
    tasks: list[BatchTask] = Field(min_length=1)
    name: str | None = None
    trigger_timestamp: float | None = Field(default=None, ge=0, le=bounds.MAX_UNIX_MS)
    reserved_concurrency: int | None = Field(default=None, ge=0)
    call_time_window: TimeWindow | None = None


def _window(raw: TimeWindow | None) -> Windows:
    if raw is None:
        return Windows((CallingWindow(start_min=0, end_min=1440),))
    bounds.check_count(raw.windows, MAX_WINDOWS, "call_time_window.windows")
    zone = validate_timezone(raw.timezone or RETELL_TIMEZONE)
    days = "1234567"
    if raw.day:
        unknown = [d for d in raw.day if d.lower() not in DAYS]
        if unknown:
            raise ValidationFailed.single(
                "call_time_window.day", "must be weekday names", list(DAY_NAMES.values())
            )
        days = "".join(sorted({DAYS[d.lower()] for d in raw.day}))
    spans = []
    for i, w in enumerate(raw.windows):
        try:
            spans.append(CallingWindow(zone, int(w.start), int(w.end), days))
        except ValidationFailed:
            raise ValidationFailed.single(f"call_time_window.windows[{i}]", "needs start < end") from None
    return Windows(tuple(spans))


def _agent(tasks: list[BatchTask]) -> tuple[str | None, str]:
    named = {(t.override_agent_id, t.override_agent_version) for t in tasks if t.override_agent_id}
    if len(named) > 1:
        raise ValidationFailed.single("tasks", "every task must name the same override_agent_id and version")
    if not named:
        return None, "current"
    agent_id, version = named.pop()
    assert agent_id is not None
    canonical = normalize_uuid(agent_id)
    if canonical is None:
        raise ValidationFailed.single(
            "override_agent_id", "must be the UUID of an agent of this organization"
        )
    return canonical, agent_version(version)


def _rows(tasks: list[BatchTask]) -> list[NewTask | RowProblem]:
    bounds.check_count(tasks, bounds.MAX_CAMPAIGN_TASKS, "tasks")
    out: list[NewTask | RowProblem] = []
    for i, t in enumerate(tasks):
        if t.agent_override or t.custom_sip_headers:
            field = "agent_override" if t.agent_override else "custom_sip_headers"
            out.append(RowProblem(i, field, "is not supported by callplane"))
            continue
        try:
            out.append(
                NewTask(
                    parse_e164(t.to_number, "to_number"),
                    freeform(t.retell_llm_dynamic_variables, "retell_llm_dynamic_variables"),
                    freeform(t.metadata, "metadata"),
                )
            )
        except ValidationFailed as exc:
            out.append(RowProblem(i, exc.errors[0].field, exc.errors[0].reason))
    return out


@router.post(
    "/create-batch-call",
    status_code=201,
    response_model=BatchCallOut,
    summary="Create a batch call (a callplane campaign)",
)
def create_batch_call(body: CreateBatchCall, org: CallsWrite, services: ServicesDep) -> JSON:
    from_number = parse_e164(body.from_number, "from_number")
    agent_id, version = _agent(body.tasks)
    now = services.clock.now_ms()
    draft = CampaignDraft(
        name=bounds.name(body.name or f"batch {now}"),
        from_number=from_number,
        tasks=_rows(body.tasks),
        agent_id=agent_id,
        agent_version=version,
        scheduled_at=int(body.trigger_timestamp) if body.trigger_timestamp is not None else None,
        window=_window(body.call_time_window),
        reserved=body.reserved_concurrency or 0,
    )
    try:
        checked = CampaignService(services.db, services.clock.now_ms).create(org, draft)
    except ValidationFailed as exc:
        raise renamed(exc, CORE_FIELDS) from None
    assert checked.view is not None, "not a dry run"
    return JSON(batch_object(checked.view, with_window=body.call_time_window is not None), status_code=201)


@router.get(
    "/get-batch-call/{batch_call_id}",
    response_model=BatchCallOut,
    summary="A batch call's status and counters (callplane)",
)
def get_batch_call(batch_call_id: str, org: CallsRead, services: ServicesDep) -> JSON:
    return JSON(batch_object(CampaignService(services.db, services.clock.now_ms).get(org, batch_call_id)))


def batch_object(view: View, *, with_window: bool = True) -> dict[str, Any]:
    """Retell's BatchCallResponse, plus callplane's status and counters (read from the
    database when asked; the SDK's model keeps fields it does not name)."""
    c, n = view.campaign, view.counters
    window = None
    if with_window:
        spans = c.window.spans
        window = {
            "windows": [{"start": w.start_min, "end": w.end_min} for w in spans],
            # Retell's days apply to every window; a campaign made elsewhere may give each its
            # own, so the days named are those of any window.
            "day": [DAY_NAMES[d] for d in sorted({d for w in spans for d in w.days})],
            "timezone": c.window.timezone,
        }
    return {
        "batch_call_id": c.id,
        "name": c.name,
        "from_number": c.from_number,
        "scheduled_timestamp": c.scheduled_at if c.scheduled_at is not None else c.created_at,
        "total_task_count": n.total,
        "call_time_window": window,
        "status": c.status.value,
        "paused_by": c.paused_by.value if c.paused_by else None,
        "completed_task_count": n.completed,
        "failed_task_count": n.failed,
        "in_progress_task_count": n.in_progress,
        "remaining_task_count": n.remaining,
        "active_concurrency": n.active_concurrency,
        "started_timestamp": c.started_at,
        "finished_timestamp": c.finished_at,
    }
