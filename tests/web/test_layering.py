"""The dashboard holds no SQL and no second query path: it reads calls through `CallService`
(whose `list` is the one `CallQuery` path) and everything else through the engine's services.

Of the store it may use only what the APIs' own layer uses: the `Database` handle it is given,
the credential lookups of `store.orgs` (signing in, as `api/deps.py` authenticates a key), and
the report types the analytics pages render. Never SQLAlchemy, never the calls' listing,
search or counting modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import callplane.web

WEB = Path(callplane.web.__file__).parent
ALLOWED_STORE = {"callplane.store.db", "callplane.store.orgs", "callplane.store.reports"}


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_the_dashboard_holds_no_sql() -> None:
    offences = []
    modules = sorted(WEB.rglob("*.py"))
    assert len(modules) >= 15
    for path in modules:
        names = _imported(path)
        offences += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "sqlalchemy"]
        store = {n for n in names if n.startswith("callplane.store")}
        # `from callplane.store import orgs` names the module; `from callplane.store.x import Y`
        # names x's member: each must fall under an allowed module.
        offences += [
            f"{path.name}: {n}"
            for n in store
            if n != "callplane.store" and not any(n == a or n.startswith(a + ".") for a in ALLOWED_STORE)
        ]
        source = path.read_text(encoding="utf-8")
        offences += [f"{path.name}: {w}" for w in ("SELECT ", "select(", ".execute(") if w in source]
    assert offences == []
