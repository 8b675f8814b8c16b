"""`callplane --help` starts without the web stack (issue 14, defect 9: it used to import FastAPI,
SQLAlchemy and uvicorn — seconds of CPU on a loaded host) and without rich or phonenumbers.
Checked by what it imports, not by time: a subprocess prints the modules loaded after the CLI
ran."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "alembic", "pydantic_settings", "httpx", "psycopg")
#: Imported only when something is printed or a phone number parsed: `--help` stays well under
#: the issue's 0.5 s of CPU on a loaded host (it measured 0.3 s with them, 0.17 s without).
PRINTING = ("rich", "markdown_it", "pygments", "phonenumbers")

PROBE = """
import sys
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
