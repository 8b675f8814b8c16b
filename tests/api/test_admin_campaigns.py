"""`POST /admin/v1/campaigns/import`: the CLI's CSV reading over HTTP — a dry run names exactly
the bad rows, a real run creates the campaign once, a re-upload creates nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callplane.domain.phone import parse_kr
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from callplane.store.schema import campaign_tasks, campaigns
from tests.factories import Tenant
from tests.test_cli_campaigns import write_csv

URL = "/admin/v1/campaigns/import"


def test_an_upload_is_checked_created_once_and_replayed(
    client: TestClient, db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    file = tmp_path / "고객.csv"
    bad = write_csv(file, 300)
    admin = Admin(db, lambda: 0)
    for i in range(300):
        if i % 101 == 7 and i % 97 != 13:
            admin.suppress(tenant.organization_id, parse_kr(f"010{6000_0000 + i:08d}", "n"), "asked")
    raw = file.read_bytes()
    headers = {**tenant.headers, "Content-Type": "text/csv"}
    params: dict[str, str | list[str]] = {
        "from_number": "07011112222",
        "name": "5월 고객",
        "agent_id": tenant.agent_id,
        "concurrency": "3",
        "window": ["09:00-12:00", "14:00-18:00"],
    }
    dry = client.post(URL, params={**params, "dry_run": "true"}, content=raw, headers=headers)
    assert dry.status_code == 200, dry.text
    checked = dry.json()
    assert {r["line"] for r in checked["rejected"]} == bad and checked["rejected_count"] == len(bad)
    assert checked["accepted"] == 300 - len(bad) and checked["campaign"] is None
    reasons = " ".join(r["reason"] for r in checked["rejected"])
    assert "do-not-call" in reasons and "duplicates row 0" in reasons and "customer_name" in reasons
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(campaigns)).scalar_one() == 0

    made = client.post(URL, params=params, content=raw, headers=headers)
    assert made.status_code == 201, made.text
    campaign = made.json()["campaign"]
    assert campaign["total_calls"] == 300 - len(bad) and campaign["concurrency"] == 3
    assert [w["start_min"] for w in campaign["call_time_window"]["windows"]] == [540, 840]
    again = client.post(URL, params=params, content=raw, headers=headers)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["campaign"]["id"] == campaign["id"]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(campaign_tasks)).scalar_one() == 300 - len(bad)


def test_a_bad_upload_is_a_400_in_voxs_shape(client: TestClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Content-Type": "text/csv"}
    params = {"from_number": "07011112222", "name": "x", "agent_id": tenant.agent_id}
    cases = [
        (params, "name,customer_name\n김민준,x\n".encode(), "csv"),
        (params, "to_number\n010\xff\n".encode("latin-1"), "csv"),
        ({**params, "colour": "red"}, b"to_number\n01060000000\n", "colour"),
        ({**params, "window": "9-5"}, b"to_number\n01060000000\n", "window[0]"),
    ]
    for query, raw, field in cases:
        response = client.post(URL, params=query, content=raw, headers=headers)
        assert response.status_code == 400, (field, response.text)
        assert response.json()["error"]["details"]["field"] == field, response.text
    missing = client.post(URL, params={"name": "x"}, content=b"to_number\n", headers=headers)
    assert missing.status_code == 400
