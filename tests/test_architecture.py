"""Imports point one way: api/web/cli → engine/store → domain; domain imports nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import callplane

PACKAGE = Path(callplane.__file__).parent
FORBIDDEN = {
    "domain": {"store", "engine", "api", "web", "cli", "config"},
    "store": {"engine", "api", "web", "cli"},
    "engine": {"api", "web", "cli"},
    # The dashboard is a client of engine/store like the APIs, not of the APIs: what it shares
    # with them (rate limiter, cursor signer) is handed to it by the app when it is mounted.
    "web": {"api", "cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callplane."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("callplane.")}
    return found


def test_layers_import_in_one_direction() -> None:
    offences = []
    for layer, forbidden in FORBIDDEN.items():
        for path in (PACKAGE / layer).rglob("*.py"):
            bad = _imports(path) & forbidden
            if bad:
                offences.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert offences == []


def test_the_live_call_never_touches_the_database() -> None:
    """A live call must not wait on the database on the loop that carries it: the worker does
    that, through the hooks and the returned Outcome (engine/live/conduct.py is the seam)."""
    offences = [
        str(path.relative_to(PACKAGE))
        for path in (PACKAGE / "engine" / "live").rglob("*.py")
        if "store" in _imports(path)
    ]
    assert offences == []


def test_sql_lives_in_the_store() -> None:
    offences = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "store":
            continue
        source = path.read_text(encoding="utf-8")
        for needle in (
            "from sqlalchemy import select",
            "insert(",
            "update(calls",
            'text("SELECT',
            "exec_driver_sql",
        ):
            if needle in source:
                offences.append(f"{relative}: {needle}")
    assert offences == []


def test_dialects_hold_no_store_access() -> None:
    offences = []
    for path in (PACKAGE / "api" / "dialects").rglob("*.py"):
        if "store" in set(_imports_full(path)):
            offences.append(str(path.relative_to(PACKAGE)))
    assert offences == []


def _imports_full(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callplane."):
            parts.add(node.module.split(".")[1])
    return parts


def _engine_rooms(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[2] for n in names if n.startswith("callplane.engine.") and n.count(".") >= 2}
    return found


def test_services_never_reach_into_jobs() -> None:
    """Use cases are called by jobs (and by the APIs), never the other way round."""
    offences = [
        str(path.relative_to(PACKAGE))
        for path in (PACKAGE / "engine" / "services").rglob("*.py")
        if "jobs" in _engine_rooms(path)
    ]
    assert offences == []
