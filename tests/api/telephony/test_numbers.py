"""A number's provider and inbound agent through the operator API, the admin API and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.store.db import Database
from tests.factories import Tenant, make_tenant
from tests.test_cli import invoke

TOKEN = "op_" + "y" * 40
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def operator_client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=db.url, operator_token=TOKEN), db=db)) as client:
        yield client


def test_the_operator_puts_a_number_on_twilio_with_its_inbound_agent(
    operator_client: TestClient, tenant: Tenant, db: Database
) -> None:
    c, org = operator_client, tenant.organization_id
    added = c.post(
        f"/operator/v1/organizations/{org}/numbers",
        json={"number": "07055556666", "provider": "twilio", "inbound_agent_id": tenant.agent_id},
        headers=OPERATOR,
    )
    assert added.status_code == 201, added.text
    assert added.json() == {
        "number": "07055556666",
        "e164": "+827055556666",
        "label": "",
        "provider": "twilio",
        "inbound_agent_id": tenant.agent_id,
    }
    unknown = c.post(
        f"/operator/v1/organizations/{org}/numbers",
        json={"number": "07055557777", "provider": "carrier-pigeon"},
        headers=OPERATOR,
    )
    assert unknown.status_code == 400 and "provider" in unknown.text
    listed = {n["e164"]: n for n in c.get("/admin/v1/numbers", headers=tenant.headers).json()}
    assert listed["+827055556666"]["provider"] == "twilio"
    assert listed[tenant.from_number]["provider"] == "simulated"  # the demo numbers stay simulated
    # The organisation's own key chooses among its own agents only.
    other = make_tenant(db, 1, name="other org")
    foreign = c.patch(
        "/admin/v1/numbers/07055556666", json={"inbound_agent_id": other.agent_id}, headers=tenant.headers
    )
    assert foreign.status_code == 404
    cleared = c.patch(
        "/admin/v1/numbers/07055556666", json={"inbound_agent_id": None}, headers=tenant.headers
    )
    assert cleared.status_code == 204
    listed = {n["e164"]: n for n in c.get("/admin/v1/numbers", headers=tenant.headers).json()}
    assert listed["+827055556666"]["inbound_agent_id"] is None
    not_ours = c.patch(
        f"/admin/v1/numbers/{other.from_number}", json={"inbound_agent_id": None}, headers=tenant.headers
    )
    assert not_ours.status_code == 404


def test_the_cli_adds_a_twilio_number(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    invoke(path, "db", "upgrade")
    org = invoke(path, "orgs", "create", "A").strip()
    assert "twilio" in invoke(path, "numbers", "add", "07055556666", "--provider", "twilio", "--org", org)
    listed = invoke(path, "numbers", "list", "--org", org)
    assert "+827055556666" in listed and "twilio" in listed
