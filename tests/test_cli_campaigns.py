"""`callplane campaigns …` against a real SQLite file: a CSV with Korean names and bad rows."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from sqlalchemy import func, select

from callplane.cli import app
from callplane.domain.errors import Conflict
from callplane.domain.phone import parse_kr
from callplane.engine.clock import SystemClock
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from callplane.store.schema import campaign_tasks, campaigns
from tests.factories import make_tenant
from tests.test_cli import invoke, runner

NAMES = ["김민준", "이서연", "박지호", "최수아", "정예준", "강하은"]


def write_csv(path: Path, count: int) -> set[int]:
    """`count` rows with Korean names; returns the file lines that must be rejected."""
    bad: set[int] = set()
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["to_number", "customer_name", "meta.crm_id"])
        for i in range(count):
            line = i + 2
            number = f"010{6000_0000 + i:08d}"
            name = NAMES[i % len(NAMES)]
            if i % 97 == 13:
                number, _ = "010-12", bad.add(line)  # invalid number
            elif i % 101 == 7:
                _ = bad.add(line)  # suppressed below
            elif i % 89 == 5:
                number, _ = "01060000000", bad.add(line)  # duplicate of the first row
            elif i % 83 == 11:
                name, _ = "", bad.add(line)  # the agent says {{customer_name}}
            writer.writerow([number, name, f"crm-{i}"])
    return bad


def test_a_dry_run_lists_exactly_the_bad_rows_and_a_second_import_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "callplane.db"
    url = f"sqlite:///{path}"
    invoke(path, "db", "upgrade")
    db = Database(url)
    tenant = make_tenant(db, SystemClock().now_ms())
    admin = Admin(db, SystemClock().now_ms)
    file = tmp_path / "5월 고객.csv"
    bad = write_csv(file, 1000)
    for i in range(1000):
        if i % 101 == 7 and i % 97 != 13:
            admin.suppress(tenant.organization_id, parse_kr(f"010{6000_0000 + i:08d}", "n"), "asked")
    args = ["campaigns", "create", "--csv", str(file), "--from", "07011112222", "--agent", tenant.agent_id]
    dry = invoke(path, *args, "--dry-run", "--concurrency", "5")
    rejected = {int(m) for m in re.findall(r"rejected line (\d+):", dry)}
    assert rejected == bad
    assert f"{1000 - len(bad):,} rows accepted, {len(bad):,} rejected" in dry and "nothing created" in dry
    assert "do-not-call" in dry and "duplicates row 0" in dry and "customer_name" in dry
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(campaigns)).scalar_one() == 0

    first = invoke(path, *args, "--concurrency", "5")
    [campaign_id] = re.findall(r"campaign (\S+) created", first)
    again = invoke(path, *args, "--concurrency", "5")
    assert f"already imported as campaign {campaign_id}; nothing created" in again
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(campaign_tasks)).scalar_one() == 1000 - len(bad)

    shown = json.loads(invoke(path, "campaigns", "show", campaign_id))
    assert shown["total_calls"] == 1000 - len(bad) and shown["concurrency"] == 5
    assert campaign_id in invoke(path, "campaigns", "list")
    assert invoke(path, "campaigns", "pause", campaign_id).strip() == "paused"
    assert invoke(path, "campaigns", "resume", campaign_id).strip() == "pending"
    exported = invoke(path, "campaigns", "export", campaign_id)
    rows = list(csv.DictReader(io.StringIO(exported.removeprefix("\ufeff"))))
    assert len(rows) == 1000 - len(bad) and rows[0]["to_number"] == "01060000000"
    lines = invoke(path, "campaigns", "export", campaign_id, "-o", "jsonl").splitlines()
    assert json.loads(lines[0])["dynamic_variables"] == {"customer_name": "김민준"}
    assert json.loads(lines[0])["metadata"] == {"crm_id": "crm-0"}
    assert invoke(path, "campaigns", "cancel", campaign_id).strip() == "canceled"
    result = runner.invoke(app, ["--database-url", url, "campaigns", "cancel", campaign_id])
    # `callplane`'s entry point prints a DomainError as `error: …` and exits 1.
    assert isinstance(result.exception, Conflict) and "already ended" in result.exception.message
    db.dispose()
