"""Zudu's key + secret pairs end to end: the demo pair `callplane serve` prints at first start,
the scripted one (`CALLPLANE_BOOTSTRAP_KEY_ID` / `_SECRET`), and one made with the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from callplane.api.app import create_app
from callplane.cli import app as cli
from callplane.config import Settings
from callplane.store.db import Database
from tests.api.test_zudu import SEED_002
from tests.test_serve import start_server

pytestmark = pytest.mark.slow

DEMO_AGENT = "7f3e9c12-4a8b-4d5e-9f1a-2b3c4d5e6f7a"


def zudu_round_trip(base_url: str, key: str, secret: str) -> None:
    headers = {"X-API-KEY": key, "X-API-SECRET": secret}
    created = httpx.post(
        f"{base_url}/api/calls/create-phone-call",
        json={"from_number": "+827011112222", "to_number": "+821012345678", "override_agent_id": DEMO_AGENT},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    call_id = created.json()["data"]["call"]["id"]
    listed = httpx.post(f"{base_url}/api/calls", json=SEED_002, headers=headers)
    assert listed.status_code == 200 and listed.json()["status"] == "success"
    assert listed.json()["data"]["pagination"]["page"] == 0
    fetched = httpx.get(f"{base_url}/api/calls/{call_id}", headers=headers)
    assert fetched.status_code == 200 and fetched.json()["data"]["id"] == call_id
    wrong = httpx.get(f"{base_url}/api/calls", headers={"X-API-KEY": key, "X-API-SECRET": secret + "x"})
    assert wrong.status_code == 401 and wrong.json()["message"] == "Unauthorized"


def test_the_printed_demo_pair_opens_zudu(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        text = server.text()
        key = re.search(r"X-API-KEY:\s+(\S+)", text)
        secret = re.search(r"X-API-SECRET:\s+(\S+)", text)
        assert key is not None and secret is not None, text
        zudu_round_trip(server.base_url, key.group(1), secret.group(1))
    finally:
        server.stop()


def test_scripted_demo_pair(tmp_path: Path) -> None:
    env = {
        "CALLPLANE_BOOTSTRAP_API_KEY": "cp_scripted_demo_key_0001",
        "CALLPLANE_BOOTSTRAP_KEY_ID": "cpk_scripted_demo_pair_01",
        "CALLPLANE_BOOTSTRAP_KEY_SECRET": "cps_scripted_demo_secret_01",
    }
    server = start_server(tmp_path, env)
    try:
        assert "X-API-KEY:    cpk_scripted_demo_pair_01" in server.text()
        zudu_round_trip(
            server.base_url, env["CALLPLANE_BOOTSTRAP_KEY_ID"], env["CALLPLANE_BOOTSTRAP_KEY_SECRET"]
        )
        # The pair is a Zudu credential only; the bearer key is not.
        bearer = httpx.get(
            f"{server.base_url}/v1/calls/list", headers={"Authorization": "Bearer cpk_scripted_demo_pair_01"}
        )
        assert bearer.status_code == 401
    finally:
        server.stop()


def test_scripted_credentials_the_store_would_refuse_stop_start_up_cleanly(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    env = {
        **os.environ,
        "CALLPLANE_DATABASE_URL": f"sqlite:///{database}",
        "CALLPLANE_BOOTSTRAP_API_KEY": "cp_scripted_demo_key_0001",
        # Same first 12 characters as the API key: credentials are looked up by that prefix.
        "CALLPLANE_BOOTSTRAP_KEY_ID": "cp_scripted_demo_pair_01",
        "CALLPLANE_BOOTSTRAP_KEY_SECRET": "short",
    }
    result = subprocess.run(
        [sys.executable, "-m", "callplane", "serve", "--port", "1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CALLPLANE_BOOTSTRAP_KEY_ID" in result.stderr + result.stdout
    assert "CALLPLANE_BOOTSTRAP_KEY_SECRET" in result.stderr + result.stdout
    # Nothing was half-made: a corrected start still creates the demo with its pair.
    fixed = {
        "CALLPLANE_BOOTSTRAP_KEY_ID": "cpk_scripted_demo_pair_01",
        "CALLPLANE_BOOTSTRAP_KEY_SECRET": "cps_scripted_demo_secret_01",
    }
    server = start_server(tmp_path, {"CALLPLANE_BOOTSTRAP_API_KEY": "cp_scripted_demo_key_0001", **fixed})
    try:
        assert "demo organization created" in server.text()
        zudu_round_trip(
            server.base_url, fixed["CALLPLANE_BOOTSTRAP_KEY_ID"], fixed["CALLPLANE_BOOTSTRAP_KEY_SECRET"]
        )
    finally:
        server.stop()


def test_a_pair_made_with_the_cli_opens_zudu(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--database-url", f"sqlite:///{path}", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("db", "upgrade")
    run("orgs", "create", "Acme")
    made = run("keys", "create", "--kind", "key_secret", "--name", "zudu")
    key = re.search(r"key:\s+(\S+)", made)
    secret = re.search(r"secret:\s+(\S+)", made)
    assert key is not None and secret is not None
    db = Database(f"sqlite:///{path}")
    try:
        with TestClient(create_app(Settings(database_url=db.url), db=db)) as client:
            headers = {"X-API-KEY": key.group(1), "X-API-SECRET": secret.group(1)}
            response = client.post("/api/calls", json=SEED_002, headers=headers)
            assert response.status_code == 200 and response.json()["data"]["calls"] == []
    finally:
        db.dispose()
