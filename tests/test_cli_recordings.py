"""`callplane recordings purge` against a real SQLite file and the default recordings folder."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from callplane.cli import app
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.engine.blobs import BlobConfig
from callplane.engine.blobs.local import LocalBlobs
from callplane.engine.clock import SystemClock
from callplane.store import calls as call_store
from callplane.store.db import Database
from callplane.store.migrate import upgrade
from tests.factories import insert_calls, make_tenant
from tests.sdk.kit import Shape, make_call

runner = CliRunner()
DAY_MS = 86_400_000


def test_purge_deletes_old_recordings_and_their_links_only(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    tenant = make_tenant(db, 0)
    now = SystemClock().now_ms()
    shape = Shape(CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    old, recent = (make_call(tenant, shape, start_at=now - days * DAY_MS) for days in (40, 2))
    blobs = LocalBlobs(BlobConfig(tmp_path / "recordings"))  # the default: beside the SQLite file
    for call in (old, recent):
        assert call.recording_key is not None
        blobs.put(call.recording_key, b"RIFF", "audio/wav")
    insert_calls(db, [old, recent])

    args = ["--database-url", f"sqlite:///{path}", "recordings", "purge"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "CALLPLANE_RECORDINGS_RETENTION_DAYS" in refused.output
    result = runner.invoke(app, [*args, "--older-than-days", "30"], catch_exceptions=False)
    assert result.exit_code == 0 and "purged 1 recording " in result.output

    assert old.recording_key is not None and recent.recording_key is not None
    assert blobs.get(old.recording_key) is None and blobs.get(recent.recording_key) == b"RIFF"
    with db.read() as conn:
        keys = {
            c.id: c.recording_key
            for c in call_store.get_calls(conn, tenant.organization_id, [old.id, recent.id])
        }
    assert keys == {old.id: None, recent.id: recent.recording_key}
    db.dispose()


def test_calls_get_shows_a_recording_link(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    tenant = make_tenant(db, 0)
    call = make_call(tenant, Shape(CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP))
    insert_calls(db, [call])
    db.dispose()
    args = ["--database-url", f"sqlite:///{path}", "calls", "get", call.id]
    result = runner.invoke(
        app, args, catch_exceptions=False, env={"CALLPLANE_PUBLIC_URL": "https://calls.example"}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["recording_url"].startswith("https://calls.example/recordings/")
