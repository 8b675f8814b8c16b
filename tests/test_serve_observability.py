"""`callplane serve` with JSON logs: one request id from the API's log line into the worker's log
lines for the call it created, and /metrics moving as the call runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.test_serve import SEED_001, free_port, start_server

KEY = "cp_scripted_demo_key_0001"


def json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def finished(metrics_text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "callplane_calls_finished_total" and sample.labels["status"] == "ended":
                total += sample.value
    return total


def test_a_request_id_reaches_the_workers_log_lines(tmp_path: Path) -> None:
    server = start_server(tmp_path, {"CALLPLANE_BOOTSTRAP_API_KEY": KEY, "CALLPLANE_LOG_FORMAT": "json"})
    try:
        headers = {"Authorization": f"Bearer {KEY}", "X-Request-ID": "req-e2e-4b1d"}
        before = finished(httpx.get(f"{server.base_url}/metrics").text)
        created = httpx.post(f"{server.base_url}/v3/calls", json=SEED_001, headers=headers)
        assert created.status_code == 201
        assert created.headers["x-request-id"] == "req-e2e-4b1d"
        call_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            call = httpx.get(f"{server.base_url}/v3/calls/{call_id}", headers=headers).json()
            if call["status"] == "ended":
                break
            time.sleep(0.2)
        assert call["status"] == "ended", call
        after = finished(httpx.get(f"{server.base_url}/metrics").text)
    finally:
        server.stop()
    assert after == before + 1
    lines = json_lines(server.text())
    mine = [line for line in lines if line.get("request_id") == "req-e2e-4b1d"]
    access = [line for line in mine if line["logger"] == "callplane.access"]
    assert any(line["route"] == "/v3/calls" and line["status"] == 201 for line in access), access
    worker = [line for line in mine if line["logger"].startswith("callplane.engine")]
    assert worker, [line["logger"] for line in lines]
    assert all(line["call_id"] == call_id for line in worker)
    assert {"time", "level", "message"} <= set(worker[0])


def test_a_worker_process_serves_its_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CALLPLANE_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "CALLPLANE_METRICS_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "callplane", "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {"callplane_worker_live_calls", "callplane_queue_due_calls", "callplane_calls_stuck"} <= names
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
