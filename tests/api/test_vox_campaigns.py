"""Vox v3 campaigns through the real app: create, read, list, pause/resume/cancel, per-task
results, the `campaign_id` call filter, every bad row named, scopes and tenancy."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callplane.domain.phone import parse_kr
from callplane.domain.principal import Scope
from callplane.engine.clock import SystemClock
from callplane.engine.jobs import feeder
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.store.db import Database
from callplane.store.schema import campaign_tasks, campaigns
from tests.api.test_scopes import bearer
from tests.factories import Tenant, make_tenant


def body(tenant: Tenant, count: int = 3, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "5월 예약 안내",
        "from_number": "07011112222",
        "agent": {"agent_id": tenant.agent_id, "agent_version": "current"},
        "tasks": [
            {
                "to_number": f"010{5000_0000 + i:08d}",
                "dynamic_variables": {"customer_name": f"고객{i}"},
                "metadata": {"crm_lead_id": f"lead_{i}"},
            }
            for i in range(count)
        ],
        "concurrency": 2,
        "call_time_window": {
            "windows": [{"start_min": 0, "end_min": 1440, "days": ["Monday", "Friday"]}],
            "timezone": "Asia/Seoul",
        },
        "retry": {"max_attempts": 3, "interval_min": 30, "reasons": ["dial_no_answer"]},
    }
    values.update(overrides)
    return values


def create(client: TestClient, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v3/campaigns", json=body(tenant, **overrides), headers=tenant.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_campaign_is_created_with_its_counters_and_read_back(client: TestClient, tenant: Tenant) -> None:
    created = create(client, tenant)
    assert created["status"] == "pending" and created["paused_by"] is None
    assert created["from_number"] == "07011112222" and created["concurrency"] == 2
    assert created["call_time_window"]["windows"][0]["days"] == ["Monday", "Friday"]
    assert created["retry"] == {"max_attempts": 3, "interval_min": 30, "reasons": ["dial_no_answer"]}
    counters = {k: created[k] for k in ("total_calls", "completed_calls", "failed_calls", "remaining_calls")}
    assert counters == {"total_calls": 3, "completed_calls": 0, "failed_calls": 0, "remaining_calls": 3}
    got = client.get(f"/v3/campaigns/{created['id']}", headers=tenant.headers).json()
    assert got["id"] == created["id"] and got["name"] == "5월 예약 안내"
    listed = client.get("/v3/campaigns", headers=tenant.headers).json()
    assert [c["id"] for c in listed["items"]] == [created["id"]] and listed["next_cursor"] is None
    tasks = client.get(f"/v3/campaigns/{created['id']}/tasks?limit=2", headers=tenant.headers).json()
    assert [t["task_id"] for t in tasks["items"]] == [0, 1] and tasks["next_cursor"]
    assert tasks["items"][0]["to_number"] == "01050000000" and tasks["items"][0]["status"] == "pending"
    page = f"/v3/campaigns/{created['id']}/tasks?cursor={tasks['next_cursor']}"
    rest = client.get(page, headers=tenant.headers).json()
    assert [t["task_id"] for t in rest["items"]] == [2] and rest["next_cursor"] is None
    # Positions are signed: a hand-made or altered one is a 400, not another page.
    for forged in ("1", tasks["next_cursor"].replace("1~", "0~", 1)):
        refused = client.get(f"/v3/campaigns/{created['id']}/tasks?cursor={forged}", headers=tenant.headers)
        assert refused.status_code == 400 and refused.json()["error"]["details"]["field"] == "cursor"


def test_the_campaign_list_pages_with_signed_cursors(client: TestClient, tenant: Tenant) -> None:
    ids = [create(client, tenant)["id"] for _ in range(3)]
    first = client.get("/v3/campaigns?limit=2", headers=tenant.headers).json()
    second = client.get(f"/v3/campaigns?limit=2&cursor={first['next_cursor']}", headers=tenant.headers).json()
    assert [c["id"] for c in first["items"] + second["items"]] == ids[::-1]
    position = first["next_cursor"].rpartition("~")[0]
    assert client.get(f"/v3/campaigns?cursor={position}", headers=tenant.headers).status_code == 400


def test_a_limit_of_non_decimal_digits_is_a_400_not_a_500(client: TestClient, tenant: Tenant) -> None:
    # "²" and "①" pass str.isdigit() but int() refuses them: the check must be isdecimal().
    for limit in ("²", "①", "1²"):
        refused = client.get(f"/v3/campaigns?limit={limit}", headers=tenant.headers)
        assert refused.status_code == 400, limit
        assert refused.json()["error"]["details"]["field"] == "limit"


def test_the_default_window_is_8_to_20_in_seoul_every_day(client: TestClient, tenant: Tenant) -> None:
    created = create(client, tenant, call_time_window=None, retry=None)
    assert created["call_time_window"] == {
        "windows": [
            {
                "start_min": 480,
                "end_min": 1200,
                "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
            }
        ],
        "timezone": "Asia/Seoul",
        "auto_resume": True,
    }
    assert created["retry"]["max_attempts"] == 1


def test_a_campaign_keeps_several_windows(client: TestClient, tenant: Tenant) -> None:
    windows = [
        {"start_min": 540, "end_min": 720, "days": ["Monday", "Tuesday"]},
        {"start_min": 840, "end_min": 1080, "days": ["Saturday"]},
    ]
    created = create(client, tenant, call_time_window={"windows": windows, "timezone": "Asia/Tokyo"})
    got = client.get(f"/v3/campaigns/{created['id']}", headers=tenant.headers).json()
    assert got["call_time_window"]["windows"] == windows
    assert got["call_time_window"]["timezone"] == "Asia/Tokyo"
    many = {"windows": [{"start_min": i, "end_min": i + 1} for i in range(11)]}
    refused = client.post("/v3/campaigns", json=body(tenant, call_time_window=many), headers=tenant.headers)
    assert refused.status_code == 400


def test_every_bad_row_is_named_and_nothing_is_created(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    Admin(db, SystemClock().now_ms).suppress(tenant.organization_id, parse_kr("01050000002", "n"), "asked")
    tasks = body(tenant, 6)["tasks"]
    tasks[1]["to_number"] = "12345"
    tasks[3]["to_number"] = tasks[0]["to_number"]
    tasks[4]["dynamic_variables"] = {}
    response = client.post("/v3/campaigns", json=body(tenant, tasks=tasks), headers=tenant.headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [e["field"] for e in error["details"]["errors"]] == [
        "tasks[1].to_number",
        "tasks[2].to_number",
        "tasks[3].to_number",
        "tasks[4].dynamic_variables",
    ]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(campaigns)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(campaign_tasks)).scalar_one() == 0


def test_bad_campaign_fields_are_400s_in_voxs_shape(client: TestClient, tenant: Tenant) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 11}, "concurrency"),  # the organisation's limit is 10
        ({"tasks": []}, "tasks"),
        ({"from_number": "07099998888"}, "from_number"),
        ({"agent": {"agent_id": "not-a-uuid"}}, "agent.agent_id"),
        ({"call_time_window": {"timezone": "Mars/Olympus"}}, "timezone"),
        (
            {
                "call_time_window": {
                    "windows": [{"start_min": 0, "end_min": 60}, {"start_min": 90, "end_min": 60}]
                }
            },
            "call_time_window.windows[1]",
        ),
        (
            {"call_time_window": {"windows": [{"start_min": 0, "end_min": 60, "days": ["Someday"]}]}},
            "call_time_window.windows[0].days",
        ),
        ({"retry": {"max_attempts": 2, "reasons": ["user_hangup"]}}, "retry.reasons"),
        ({"taskz": []}, "taskz"),
    ]
    for override, field in cases:
        response = client.post("/v3/campaigns", json=body(tenant, **override), headers=tenant.headers)
        assert response.status_code == 400, (override, response.text)
        assert response.json()["error"]["details"]["field"].startswith(field), (override, response.json())


def test_a_create_repeated_with_its_idempotency_key_answers_the_first_campaign(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "import-2026-05"}
    first = client.post("/v3/campaigns", json=body(tenant), headers=headers)
    again = client.post("/v3/campaigns", json=body(tenant), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    other = client.post("/v3/campaigns", json=body(tenant, name="다른 이름"), headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(campaign_tasks)).scalar_one() == 3


def test_pause_resume_cancel_and_the_campaign_id_filter(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    created = create(
        client, tenant, count=5, call_time_window={"windows": [{"start_min": 0, "end_min": 1440}]}
    )
    cid = created["id"]
    fed = feeder.feed(db, CallService(db, SystemClock().now_ms), SystemClock().now_ms())
    assert fed.created == 2  # its concurrency
    calls = client.get(f"/v3/calls?campaign_id={cid}", headers=tenant.headers).json()
    assert calls["total_count"] == 2 and {c["status"] for c in calls["items"]} == {"queued"}
    assert {c["campaign_id"] for c in calls["items"]} == {cid}
    one = client.get(f"/v3/calls/{calls['items'][0]['id']}", headers=tenant.headers).json()
    assert one["campaign_id"] == cid
    assert (
        client.get("/v3/calls?campaign_id=" + tenant.agent_id, headers=tenant.headers).json()["items"] == []
    )
    v2 = client.post(
        "/v2/calls/list", json={"filter_criteria": {"campaign_id": [cid]}}, headers=tenant.headers
    ).json()
    assert v2["total_count"] == 2 and {c["campaign_id"] for c in v2["calls"]} == {cid}
    ongoing = client.get(f"/v3/campaigns/{cid}", headers=tenant.headers).json()
    assert ongoing["status"] == "ongoing" and ongoing["in_progress_calls"] == 2
    paused = client.post(f"/v3/campaigns/{cid}/pause", headers=tenant.headers).json()
    assert paused["status"] == "paused" and paused["paused_by"] == "user"
    resumed = client.post(f"/v3/campaigns/{cid}/resume", headers=tenant.headers).json()
    assert resumed["status"] == "ongoing" and resumed["paused_by"] is None
    canceled = client.post(f"/v3/campaigns/{cid}/cancel", headers=tenant.headers).json()
    assert canceled["status"] == "canceled" and canceled["finished_at"] is not None
    assert canceled["failed_calls"] == 5 and canceled["remaining_calls"] == canceled["in_progress_calls"] == 0
    calls = client.get(f"/v3/calls?campaign_id={cid}", headers=tenant.headers).json()
    assert {c["status"] for c in calls["items"]} == {"canceled"}
    again = client.post(f"/v3/campaigns/{cid}/cancel", headers=tenant.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"
    assert client.post(f"/v3/campaigns/{cid}/resume", headers=tenant.headers).status_code == 409


def test_another_organizations_campaign_is_a_404(client: TestClient, db: Database, tenant: Tenant) -> None:
    cid = create(client, tenant)["id"]
    other = make_tenant(db, SystemClock().now_ms(), "other org")
    for method, path in [
        ("GET", f"/v3/campaigns/{cid}"),
        ("GET", f"/v3/campaigns/{cid}/tasks"),
        ("POST", f"/v3/campaigns/{cid}/pause"),
        ("POST", f"/v3/campaigns/{cid}/resume"),
        ("POST", f"/v3/campaigns/{cid}/cancel"),
    ]:
        response = client.request(method, path, headers=other.headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert client.get("/v3/campaigns", headers=other.headers).json()["items"] == []
    assert client.get(f"/v3/campaigns/{cid}", headers=tenant.headers).status_code == 200


def test_scopes_and_the_task_cap(client: TestClient, db: Database, tenant: Tenant) -> None:
    reader = bearer(db, tenant, frozenset({Scope.CALLS_READ}))
    assert client.post("/v3/campaigns", json=body(tenant), headers=reader).status_code == 403
    cid = create(client, tenant)["id"]
    assert client.get(f"/v3/campaigns/{cid}", headers=reader).status_code == 200
    assert client.post(f"/v3/campaigns/{cid}/pause", headers=reader).status_code == 403
    writer = bearer(db, tenant, frozenset({Scope.CALLS_WRITE}))
    assert client.get(f"/v3/campaigns/{cid}", headers=writer).status_code == 403
    assert client.get("/v3/campaigns?sort=name", headers=tenant.headers).status_code == 400
    many = [{"to_number": "01050000000"}] * 10_001
    response = client.post("/v3/campaigns", json=body(tenant, tasks=many), headers=tenant.headers)
    assert response.status_code in (400, 413)


def test_v2_creates_with_call_from_and_agent_id(client: TestClient, tenant: Tenant) -> None:
    v3_body = body(tenant)
    agent = v3_body.pop("agent")
    call_from = v3_body.pop("from_number")
    v2_body = {**v3_body, "call_from": call_from, "agent_id": agent["agent_id"]}
    response = client.post("/v2/campaigns", json=v2_body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["call_from"] == "07011112222" and created["agent_id"] == tenant.agent_id
    assert created["agent_version"] == "current" and created["total_calls"] == 3
    assert "from_number" not in created and "agent" not in created
    got = client.get(f"/v3/campaigns/{created['id']}", headers=tenant.headers).json()
    assert got["agent"] == {"agent_id": tenant.agent_id, "agent_version": "current"}
    tasks = v2_body["tasks"]
    tasks[2]["to_number"] = "abc"
    bad = client.post("/v2/campaigns", json={**v2_body, "tasks": tasks}, headers=tenant.headers)
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "tasks[2].to_number"
    wrong = client.post("/v2/campaigns", json=body(tenant), headers=tenant.headers)
    assert wrong.status_code == 400  # v3's names are not v2's
