"""The management CLI against a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from typer.testing import CliRunner

from callplane.cli import app
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.store.db import Database
from tests.factories import FLOW_AGENT, insert_calls, make_tenant, random_call

runner = CliRunner()


def invoke(db: Path, *args: str) -> str:
    result = runner.invoke(app, ["--database-url", f"sqlite:///{db}", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_set_up_an_organization_from_scratch(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    invoke(db, "db", "upgrade")
    org_id = invoke(db, "orgs", "create", "Acme").strip()
    key = invoke(db, "keys", "create", "--name", "ci")
    assert "key:    cp_" in key
    pair = invoke(db, "keys", "create", "--kind", "key_secret")
    assert "secret: cps_" in pair
    agent_file = tmp_path / "agent.json"
    agent_file.write_text(json.dumps(FLOW_AGENT), encoding="utf-8")
    agent_id = invoke(db, "agents", "create", "--file", str(agent_file)).split()[0]
    assert "v2" in invoke(db, "agents", "update", agent_id, "--file", str(agent_file))
    assert "production: v2" in invoke(db, "agents", "publish", agent_id, "--version", "2")
    invoke(db, "numbers", "add", "07011112222", "--label", "main")
    assert "07011112222" in invoke(db, "numbers", "list")
    invoke(db, "presentation", "add", "0212345678")
    invoke(
        db,
        "splits",
        "set",
        "07011112222",
        "--variant",
        f"a={agent_id}@v1:1",
        "--variant",
        f"b={agent_id}@v2:1",
    )
    assert "a=" in invoke(db, "splits", "list")
    invoke(db, "suppress", "add", "01099998888")
    shown = json.loads(
        invoke(db, "orgs", "update", '{"max_concurrent_calls": 3, "calling_window": {"start": "09:00"}}')
    )
    assert shown["id"] == org_id and shown["max_concurrent_calls"] == 3
    assert shown["calling_window"]["start"] == "09:00"
    assert "0 shown of 0" in invoke(db, "calls", "list")
    assert invoke(db, "calls", "list", "-o", "csv").startswith("\ufeffid,status")


def test_bad_agent_file_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    invoke(db, "db", "upgrade")
    invoke(db, "orgs", "create", "Acme")
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "type": "flow", "flow": {"nodes": {}}}', encoding="utf-8")
    result = runner.invoke(app, ["--database-url", f"sqlite:///{db}", "agents", "create", "--file", str(bad)])
    assert result.exit_code != 0


def test_try_an_agent_file_on_the_simulated_line(tmp_path: Path) -> None:
    from callplane.cli.demo import demo_agent_file

    agent_file = tmp_path / "demo.json"
    agent_file.write_text(json.dumps(demo_agent_file()), encoding="utf-8")
    out = invoke(
        tmp_path / "unused.db",
        "agents",
        "try",
        "-f",
        str(agent_file),
        "--to",
        "01000000009",
        "--var",
        "customer_name=홍길동",
        "--json",
    )
    outcome = json.loads(out[out.index("{") :])
    assert outcome["reason"] == "agent_hangup"
    assert outcome["collected"] == {"appointment_status": "cancel"}
    assert any("홍길동" in e.get("content", "") for e in outcome["transcript"])


def test_calls_list_searches_pages_and_exports(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    invoke(path, "db", "upgrade")
    db = Database(f"sqlite:///{path}")
    tenant = make_tenant(db, 1_767_225_600_000)
    rng = random.Random(7)
    found = [
        random_call(rng, tenant.organization_id, [tenant.agent_id], start_at=1_767_225_600_000 + i * 1000)
        for i in range(40)
    ]
    phrase = ["예약 변경 부탁드립니다", "환불 문의", "배송 확인"]
    found = [
        replace(
            c,
            status=CallStatus.ENDED,
            disconnection_reason=DisconnectionReason.USER_HANGUP,
            end_at=c.start_at,
            duration_ms=0,
            transcript=[{"role": "user", "content": phrase[i % 3], "start_at": 0, "end_at": 1}],
        )
        if c.start_at is not None
        else c
        for i, c in enumerate(found)
    ]
    insert_calls(db, found)
    db.dispose()
    expected = sum(1 for c in found if c.transcript and "예약" in c.transcript[0]["content"])
    assert expected > 3

    page = invoke(path, "calls", "list", "--search", "예약", "--limit", "2")
    assert f"2 shown of {expected} matching" in page
    everything = invoke(path, "calls", "list", "--search", "예약", "--limit", "2", "--all", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(everything.lstrip("\ufeff"))))
    wanted = {c.id for c in found if c.transcript and "예약" in c.transcript[0]["content"]}
    assert {r["id"] for r in rows} == wanted
    listed = invoke(path, "calls", "list", "--all", "--limit", "7")
    assert f"{len(found)} shown of {len(found)} matching" in listed


def test_webhook_endpoints_are_added_listed_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    invoke(path, "db", "upgrade")
    invoke(path, "orgs", "create", "Acme")
    added = invoke(path, "webhooks", "add", "https://crm.example.com/hooks", "--event", "call_ended")
    endpoint_id = added.split("id:", 1)[1].split()[0]
    assert "events: call_ended" in added and "secret: whsec_" in added
    listed = invoke(path, "webhooks", "list")
    assert endpoint_id in listed and "https://crm.example.com/hooks" in listed and "enabled" in listed
    invoke(path, "webhooks", "remove", endpoint_id)
    assert endpoint_id not in invoke(path, "webhooks", "list")
    assert "secret: " in invoke(path, "webhooks", "agent-secret")


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"callplane {version('callplane')}"


def test_the_cli_is_the_operator_keys_with_scopes_numbers_with_one_owner(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    invoke(path, "db", "upgrade")
    a = invoke(path, "orgs", "create", "A").strip()
    b = invoke(path, "orgs", "create", "B").strip()
    default = invoke(path, "keys", "create", "--org", a)
    assert "scopes: calls:read calls:write" in default
    scoped = invoke(path, "keys", "create", "--org", a, "--scope", "agents:admin", "--scope", "calls:read")
    assert "scopes: agents:admin calls:read" in scoped
    assert "(scopes: agents:admin calls:read)" in invoke(path, "keys", "list", "--org", a)
    unknown = runner.invoke(
        app, ["--database-url", f"sqlite:///{path}", "keys", "create", "--org", a, "--scope", "root"]
    )
    assert unknown.exit_code != 0
    invoke(path, "numbers", "add", "07011112222", "--org", a)
    taken = runner.invoke(
        app, ["--database-url", f"sqlite:///{path}", "numbers", "add", "07011112222", "--org", b]
    )
    assert taken.exit_code != 0
    assert "07011112222" in invoke(path, "numbers", "list", "--org", a)
    assert "07011112222" not in invoke(path, "numbers", "list", "--org", b)
    assert "approved" in invoke(path, "presentation", "add", "0212345678", "--org", a)
    again = runner.invoke(
        app, ["--database-url", f"sqlite:///{path}", "presentation", "add", "0212345678", "--org", b]
    )
    assert again.exit_code != 0
    assert "not approved" in invoke(path, "presentation", "add", "0212345678", "--org", b, "--unapproved")


def test_shell_completion_is_offered() -> None:
    script = Path(sys.executable).parent / "callplane"
    done = subprocess.run(
        [str(script), "--show-completion", "bash"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "_callplane_completion" in done.stdout and "complete " in done.stdout
