"""Customer-supplied URLs through the admin API: internal destinations are clear 400s (issue 15,
defects 3 and 8), in the Vox error shape, naming the field; the development setting lets them in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from callplane.api.app import create_app
from callplane.cli import app as cli
from callplane.config import Settings
from callplane.domain.errors import ValidationFailed
from callplane.store.db import Database
from tests.factories import FLOW_AGENT, Tenant

INTERNAL = [
    "http://127.0.0.1:8080/hook",
    "http://127.1/hook",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://017700000001/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::1]/hook",
    "http://localhost/hook",
    "http://localhost./hook",
    "http://db.localhost/hook",
    "http://10.0.0.8/hook",
    "http://192.168.0.1/hook",
    "http://100.64.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[64:ff9b::7f00:1]/hook",
    "http://0.0.0.0/hook",
]


def refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR", error
    assert field in json.dumps(error["details"]) and "destination not allowed" in error["message"], error


def llm_agent(**llm: Any) -> dict[str, Any]:
    return {"name": "llm", "type": "llm", "llm": {"prompt": "hello", **llm}}


def tool_agent(url: str) -> dict[str, Any]:
    flow = {
        "start": "look",
        "tools": {"crm": {"type": "http", "url": url}},
        "nodes": {
            "look": {"type": "tool", "tool": "crm", "next": "bye"},
            "bye": {"type": "end", "say": "안녕히 계세요"},
        },
    }
    return {"name": "tools", "type": "flow", "flow": flow}


@pytest.mark.parametrize("url", INTERNAL)
def test_every_customer_url_refuses_internal_destinations(
    client: TestClient, tenant: Tenant, url: str
) -> None:
    h = tenant.headers
    refused(client.post("/admin/v1/webhook-endpoints", json={"url": url}, headers=h), "url")
    refused(client.post("/admin/v1/agents", json=llm_agent(base_url=url), headers=h), "llm.base_url")
    refused(client.post("/admin/v1/agents", json=tool_agent(url), headers=h), "flow.tools.crm.url")
    with_llm_tool = llm_agent(tools={"crm": {"type": "http", "url": url}})
    refused(client.post("/admin/v1/agents", json=with_llm_tool, headers=h), "llm.tools.crm.url")
    refused(
        client.post("/admin/v1/agents", json={**FLOW_AGENT, "webhook_url": url}, headers=h), "webhook_url"
    )
    version = client.post(
        f"/admin/v1/agents/{tenant.agent_id}/versions", json=llm_agent(base_url=url), headers=h
    )
    refused(version, "llm.base_url")
    assert client.get("/admin/v1/webhook-endpoints", headers=h).json() == []
    assert [a["id"] for a in client.get("/admin/v1/agents", headers=h).json()] == [tenant.agent_id]


def test_public_names_and_names_that_do_not_resolve_yet_are_accepted(
    client: TestClient, tenant: Tenant
) -> None:
    h = tenant.headers
    url = "https://crm.example.com/v1"  # no DNS here: checked again at every connection
    assert client.post("/admin/v1/webhook-endpoints", json={"url": url}, headers=h).status_code == 201
    agent = {**llm_agent(base_url=url, tools={"crm": {"type": "http", "url": url}}), "webhook_url": url}
    assert client.post("/admin/v1/agents", json=agent, headers=h).status_code == 201


@pytest.fixture
def permissive_client(db: Database) -> Iterator[TestClient]:
    settings = Settings(database_url=db.url, allow_private_destinations=True)
    with TestClient(create_app(settings, db=db)) as test_client:
        yield test_client


def test_the_operator_can_allow_private_destinations(permissive_client: TestClient, tenant: Tenant) -> None:
    h, post = tenant.headers, permissive_client.post
    url = "http://127.0.0.1:9/hook"
    assert post("/admin/v1/webhook-endpoints", json={"url": url}, headers=h).status_code == 201
    assert post("/admin/v1/agents", json=llm_agent(base_url=url), headers=h).status_code == 201
    # The scheme is still checked.
    assert post("/admin/v1/webhook-endpoints", json={"url": "file:///x"}, headers=h).status_code == 400


def test_the_old_setting_names_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CALLPLANE_ALLOW_PRIVATE_DESTINATIONS",
        "CALLPLANE_ALLOW_PRIVATE_TOOL_URLS",
        "CALLPLANE_WEBHOOK_ALLOW_PRIVATE",
    ):
        with monkeypatch.context() as env:
            env.setenv(name, "true")
            assert Settings().allow_private_destinations is True, name
    assert Settings().allow_private_destinations is False


def test_the_cli_refuses_internal_webhook_endpoints(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    for args in (("db", "upgrade"), ("orgs", "create", "Acme")):
        assert runner.invoke(cli, ["--database-url", url, *args]).exit_code == 0
    result = runner.invoke(cli, ["--database-url", url, "webhooks", "add", "http://169.254.169.254/x"])
    # `callplane.cli.main` prints a DomainError's message; the runner hands us the error itself.
    assert isinstance(result.exception, ValidationFailed)
    assert "destination not allowed" in str(result.exception)
