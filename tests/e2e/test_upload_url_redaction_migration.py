"""Migration 0018_edges takes the upload tokens out of the command audit log entries
written before the log stored them redacted. SQLite only: the rows are written by hand at
the revision before it."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

from alembic.script import ScriptDirectory

from app.core.migrate import alembic_config, upgrade_sync
from app.core.settings import DatabaseSettings

TOKEN = "s3cr3t-upload-token-from-before"


def test_old_audit_entries_lose_their_upload_token(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = DatabaseSettings(url=f"sqlite+aiosqlite:///{path}")
    before = ScriptDirectory.from_config(alembic_config(db)).get_revision("0018_edges").down_revision
    assert isinstance(before, str)
    upgrade_sync(db, before)
    rows = {
        "get-diagnostics": {"uploadUrl": f"https://csms.example/uploads/diagnostics/{TOKEN}", "requestId": 7},
        "reset": {"type": "Soft"},
    }
    with sqlite3.connect(path) as conn:  # foreign keys are not enforced on a plain connection
        for name, args in rows.items():
            conn.execute(
                "INSERT INTO command_log (id, charge_point_id, name, args, origin, requested_at, outcome) "
                "VALUES (?, ?, ?, ?, 'operator', '2026-01-01 00:00:00.000000', 'answered')",
                (uuid.uuid4().hex, uuid.uuid4().hex, name, json.dumps(args)),
            )
    upgrade_sync(db)
    with sqlite3.connect(path) as conn:
        after = {name: json.loads(args) for name, args in conn.execute("SELECT name, args FROM command_log")}
    assert after["get-diagnostics"] == {"uploadUrl": "https://csms.example/uploads/diagnostics/***", "requestId": 7}
    assert after["reset"] == {"type": "Soft"}
    assert TOKEN not in json.dumps(after)
