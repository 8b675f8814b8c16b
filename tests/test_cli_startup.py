"""`callplane --help` starts without the web stack (issue 14, defect 9: it used to import FastAPI,
SQLAlchemy and uvicorn — seconds of CPU on a loaded host) and without rich or phonenumbers.
Checked by what it imports, not by time: a subprocess prints the modules loaded after the CLI
ran."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "alembic", "pydantic_settings", "httpx", "psycopg")
#: Imported only when something is printed or a phone number parsed: `--help` stays well under
#: the issue's 0.5 s of CPU on a loaded host (it measured 0.3 s with them, 0.17 s without).
PRINTING = ("rich", "markdown_it", "pygments", "phonenumbers")

PROBE = """
import sys
from pathlib import Path
sys.argv = ["callplane", *sys.argv[1:]]
from callplane.cli import app
try:
    app()
except SystemExit:
    pass
print("MODULES", " ".join(sorted(sys.modules)))
"""


def imported_by(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True, timeout=120
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("MODULES "))
    return set(line.split()[1:])


@pytest.mark.parametrize("args", [("--help",), ("calls", "--help"), ("webhooks", "--help"), ("--version",)])
def test_help_does_not_import_the_web_stack_or_the_database(args: tuple[str, ...]) -> None:
    modules = imported_by(*args)
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY + PRINTING)
    assert loaded == []
    assert not any(m.startswith(("callplane.api", "callplane.store", "callplane.engine")) for m in modules)


def test_the_help_still_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "callplane", "--help"], capture_output=True, text=True, check=True, timeout=120
    )
    for command in ("serve", "worker", "db", "orgs", "keys", "agents", "numbers", "webhooks", "calls"):
        assert command in result.stdout


#: What `callplane worker` loads before it claims a call: its module, the webhook formats it
#: registers (`Context.db`), the migrations and the worker itself.
WORKER_PROBE = """
import importlib, sys
from callplane.cli.context import Context
from callplane.store.migrate import upgrade
worker = importlib.import_module("callplane.cli.worker")
c = Context(sys.argv[1])
upgrade(c.db)
worker.build_worker(c.db, c.settings)
print("MODULES", " ".join(sorted(sys.modules)))
"""


def test_a_worker_starts_without_the_http_routes(tmp_path: Path) -> None:
    # Issue 14: the dialects' package `__init__`s imported their routes (and FastAPI) only so the
    # worker could register their webhook formats — about a second of its start-up CPU.
    result = subprocess.run(
        [sys.executable, "-c", WORKER_PROBE, f"sqlite:///{tmp_path / 'worker.db'}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("MODULES "))
    modules = set(line.split()[1:])
    assert "callplane.api.dialects.vox.webhooks" in modules  # the probe did register the formats
    assert sorted(m for m in modules if m.split(".")[0] in ("fastapi", "starlette")) == []
    routes = ("routes", "batch", "v2", "v3", "campaigns", "campaigns_v2")
    loaded = sorted(m for m in modules if m.startswith("callplane.api.") and m.rsplit(".", 1)[1] in routes)
    assert loaded == []
