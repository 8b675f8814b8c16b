"""`callplane serve` as a user runs it: a real process, a real socket, the printed curl."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from sqlalchemy import select

from callplane.store.db import Database
from callplane.store.schema import calls

SEED_000 = {
    "filter_criteria": {"agent_id": ["agent_123"], "call_type": ["outbound"]},
    "limit": 50,
    "sort_order": "descending",
}
SEED_001 = {
    "from_number": "07011112222",
    "to_number": "01012345678",
    "agent": {"agent_id": "7f3e9c12-4a8b-4d5e-9f1a-2b3c4d5e6f7a", "agent_version": "current"},
    "dynamic_variables": {"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"},
    "metadata": {"crm_lead_id": "lead_a1b2c3"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base_url: str
    output: Path
    process: subprocess.Popen[bytes]
    log: BinaryIO

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        self.log.close()


def start_server(tmp_path: Path, extra_env: dict[str, str] | None = None) -> Server:
    port = free_port()
    output = tmp_path / "serve.log"
    log = output.open("wb")
    env = {**os.environ, "CALLPLANE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "callplane", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return Server(base_url, output, process, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    log.close()
    raise AssertionError(f"server did not start:\n{output.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path)
    yield running
    running.stop()


def test_first_start_prints_a_curl_that_creates_the_seed_call(server: Server) -> None:
    text = server.text()
    key = re.search(r"API key \(Authorization: Bearer …, shown once\): (\S+)", text)
    assert key is not None, text
    curl = text[text.index("curl -s") :].split("\n\n")[0]
    result = subprocess.run(
        [*shlex.split(curl.replace("\\\n", " ")), "-w", "\n%{http_code}"], capture_output=True, check=True
    )
    body, status = result.stdout.rsplit(b"\n", 1)
    assert status == b"201"
    created = json.loads(body)
    assert created["status"] == "queued"
    assert "홍길동".encode() in body
    assert created["dynamic_variables"] == SEED_001["dynamic_variables"]


def test_seed_bodies_replayed_verbatim(tmp_path: Path) -> None:
    running = start_server(tmp_path, {"CALLPLANE_BOOTSTRAP_API_KEY": "cp_scripted_demo_key_0001"})
    try:
        headers = {"Authorization": "Bearer cp_scripted_demo_key_0001"}
        created = httpx.post(f"{running.base_url}/v3/calls", json=SEED_001, headers=headers)
        assert created.status_code == 201
        listed = httpx.post(f"{running.base_url}/v2/calls/list", json=SEED_000, headers=headers)
        assert listed.status_code == 200
        assert set(listed.json()) == {"calls", "next_cursor", "total_count"}
        fetched = httpx.get(f"{running.base_url}/v3/calls/{created.json()['id']}", headers=headers)
        assert fetched.status_code == 200
    finally:
        running.stop()
    # A second start on the same database keeps the organisation and creates no new demo.
    again = start_server(tmp_path)
    try:
        assert "demo organization created" not in again.text()
        assert httpx.get(f"{again.base_url}/v3/calls", headers=headers).json()["total_count"] == 1
    finally:
        again.stop()


def test_sigterm_lets_a_live_call_finish_then_exits_0(tmp_path: Path) -> None:
    """A rolling restart: SIGTERM while a call is live. The API stops, the embedded worker drains
    (the call ends as it would have), and the process exits 0 — uvicorn's habit of re-raising the
    signal once had the process die in 0.3 s and leave the call to the reaper as an error."""
    running = start_server(
        tmp_path,
        {"CALLPLANE_BOOTSTRAP_API_KEY": "cp_scripted_demo_key_0001", "CALLPLANE_SIMULATOR_SPEED": "2"},
    )
    headers = {"Authorization": "Bearer cp_scripted_demo_key_0001"}
    try:
        call_id = httpx.post(f"{running.base_url}/v3/calls", json=SEED_001, headers=headers).json()["id"]
        deadline = time.monotonic() + 30
        while (
            httpx.get(f"{running.base_url}/v3/calls/{call_id}", headers=headers).json()["status"] != "ongoing"
        ):
            assert time.monotonic() < deadline, "the call never went live"
            time.sleep(0.05)
        running.process.send_signal(signal.SIGTERM)
        code = running.process.wait(timeout=120)
    finally:
        if running.process.poll() is None:
            running.process.kill()
        running.log.close()
    assert code == 0, running.text()
    db = Database(f"sqlite:///{tmp_path / 'demo.db'}")
    with db.read() as conn:
        row = conn.execute(
            select(calls.c.status, calls.c.disconnection_reason).where(calls.c.id == call_id)
        ).one()
    assert (row.status, row.disconnection_reason) == ("ended", "agent_hangup"), running.text()
