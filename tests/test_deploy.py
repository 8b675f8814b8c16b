"""The deployment, run from the wheel: `deploy/smoke.sh` builds it, installs it in a fresh
environment and starts what deploy/compose.yaml starts (migrations, two API processes, two
workers on PostgreSQL), places a call and stops everything with SIGTERM. Plus the static
checks of the Dockerfile, compose file and systemd units that need no container engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


@pytest.mark.slow
@pytest.mark.postgres
def test_the_wheel_runs_the_compose_deployment(postgres_url: str) -> None:
    env = {**os.environ, "PROJECT_PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(DEPLOY / "smoke.sh")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-5000:]
    assert "ended: agent_hangup" in done.stderr
    for name in ("api-1", "api-2", "worker-1", "worker-2"):
        assert f"{name} exited 0" in done.stderr


def test_compose_runs_postgres_migrations_two_apis_and_two_workers() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "api-1", "api-2", "worker-1", "worker-2"}
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for api in ("api-1", "api-2"):
        assert services[api]["command"] == ["serve"]
        assert services[api]["environment"]["CALLPLANE_EMBEDDED_WORKER"] == "false"
        assert services[api]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for worker in ("worker-1", "worker-2"):
        assert services[worker]["command"] == ["worker"]
        assert services[worker]["stop_grace_period"] == "630s"  # longer than the 600 s drain


def test_the_image_is_slim_non_root_and_holds_the_wheel() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "pip wheel" in dockerfile and "COPY --from=build /dist/*.whl" in dockerfile
    assert "\nUSER callplane\n" in dockerfile
    assert 'ENTRYPOINT ["callplane"]' in dockerfile


def test_systemd_units_wait_for_the_drain() -> None:
    worker = (DEPLOY / "callplane-worker@.service").read_text()
    assert "ExecStart=/opt/callplane/bin/callplane worker" in worker and "TimeoutStopSec=630" in worker
    api = (DEPLOY / "callplane.service").read_text()
    assert "CALLPLANE_EMBEDDED_WORKER=false" in api and "User=callplane" in api
