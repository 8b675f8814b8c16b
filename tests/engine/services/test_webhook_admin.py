"""Webhook endpoints through the admin API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from callplane.cli import app
from callplane.domain.ids import new_id
from tests.factories import Tenant, call_body

runner = CliRunner()


def test_endpoints_through_the_admin_api(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    created = client.post(
        "/admin/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/vox", "events": ["call_ended"], "agent_id": tenant.agent_id},
        headers=h,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["call_ended"]
    assert body["agent_id"] == tenant.agent_id and body["enabled"] is True
    listed = client.get("/admin/v1/webhook-endpoints", headers=h).json()
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]  # shown once
    assert client.delete(f"/admin/v1/webhook-endpoints/{body['id']}", headers=h).status_code == 204
    assert client.delete(f"/admin/v1/webhook-endpoints/{body['id']}", headers=h).status_code == 404
    rotated = client.post("/admin/v1/webhook-endpoints/agent-url-secret", headers=h)
    assert rotated.status_code == 201 and rotated.json()["secret"].startswith("whsec_")


def test_bad_endpoints_are_clear_400s(client: TestClient, tenant: Tenant) -> None:
    for bad, field in (
        ({}, "url"),
        ({"url": "ftp://example.com"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://x.example.com", "events": ["call_exploded"]}, "events"),
        ({"url": "https://x.example.com", "events": []}, "events"),
        ({"url": "https://x.example.com", "agent_id": new_id()}, "agent_id"),
    ):
        response = client.post("/admin/v1/webhook-endpoints", json=bad, headers=tenant.headers)
        assert response.status_code == 400, (bad, response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and field in json.dumps(error["details"]), error


def test_a_calls_delivery_log(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    client.post("/admin/v1/webhook-endpoints", json={"url": "https://hooks.example.com/vox"}, headers=h)
    call_id = client.post("/v3/calls", json=call_body(tenant), headers=h).json()["id"]
    assert client.post(f"/v3/calls/{call_id}/cancel", headers=h).json()["status"] == "canceled"
    log = client.get(f"/admin/v1/calls/{call_id}/webhook-deliveries", headers=h)
    assert log.status_code == 200
    [delivery] = log.json()
    assert delivery["event"] == "call_ended" and delivery["status"] == "pending"
    assert delivery["event_id"].startswith("msg_") and delivery["attempts"] == []
    assert client.get(f"/admin/v1/calls/{new_id()}/webhook-deliveries", headers=h).status_code == 404


def test_endpoints_through_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def invoke(*args: str) -> str:
        result = runner.invoke(app, ["--database-url", url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    invoke("db", "upgrade")
    invoke("orgs", "create", "Acme")
    added = invoke("webhooks", "add", "https://hooks.example.com/a", "--event", "call_analyzed")
    endpoint_id = added.split("id:")[1].split()[0]
    assert "secret: whsec_" in added and "events: call_analyzed" in added
    listed = invoke("webhooks", "list")
    assert endpoint_id in listed and "https://hooks.example.com/a" in listed and "whsec_" not in listed
    assert "secret: whsec_" in invoke("webhooks", "agent-secret")
    invoke("webhooks", "remove", endpoint_id)
    assert endpoint_id not in invoke("webhooks", "list")


def test_retell_endpoints_test_events_and_redelivery_through_the_admin_api(
    client: TestClient, tenant: Tenant
) -> None:
    h = tenant.headers
    created = client.post(
        "/admin/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/r", "format": "retell"},
        headers=h,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["format"] == "retell" and endpoint["secret"].startswith("key_")
    assert endpoint["events"] == ["call_started", "call_ended", "call_analyzed"]
    test = client.post(f"/admin/v1/webhook-endpoints/{endpoint['id']}/test", headers=h)
    assert test.status_code == 202, test.text
    delivery = test.json()
    assert delivery["event"] == "test" and delivery["status"] == "pending"
    assert client.get(f"/admin/v1/webhook-deliveries/{delivery['id']}", headers=h).json() == delivery
    again = client.post(f"/admin/v1/webhook-deliveries/{delivery['id']}/redeliver", headers=h)
    assert again.status_code == 409 and again.json()["error"]["code"]  # pending: the relay has it
    for path in (f"webhook-deliveries/{new_id()}", f"webhook-deliveries/{new_id()}/redeliver"):
        method = client.post if path.endswith("redeliver") else client.get
        assert method(f"/admin/v1/{path}", headers=h).status_code == 404
    assert client.post(f"/admin/v1/webhook-endpoints/{new_id()}/test", headers=h).status_code == 404
    bad = client.post(
        "/admin/v1/webhook-endpoints", json={"url": "https://h.example.com", "format": "zudu"}, headers=h
    )
    assert bad.status_code == 400 and "format" in bad.text


def test_redeliver_and_test_through_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--database-url", url, *args], catch_exceptions=code != 0)
        assert result.exit_code == code, result.output
        return result.output + str(result.exception or "")

    invoke("db", "upgrade")
    invoke("orgs", "create", "Acme")
    added = invoke("webhooks", "add", "https://hooks.example.com/a", "--format", "retell")
    endpoint_id = added.split("id:")[1].split()[0]
    assert "format: retell" in added and "secret: key_" in added
    # No worker runs here: the test event is queued, and `test` says nobody attempted it.
    waited = invoke("webhooks", "test", endpoint_id, "--wait", "0.3", code=1)
    assert "test" in waited and "pending" in waited and "worker" in waited
    delivery_id = invoke("webhooks", "deliveries", endpoint_id).split()[0]
    assert "still pending" in invoke("webhooks", "redeliver", delivery_id, code=1)
