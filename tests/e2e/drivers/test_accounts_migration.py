"""Migration 0015_accounts on a database with data from before it: every transaction gets
the owner its card has then, existing accounts stay able to sign in, and the old
account-wide lock-out counters are gone."""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa

from app.core.migrate import upgrade
from app.core.settings import DatabaseSettings


async def test_the_migration_backfills_owners_and_keeps_accounts_verified(tmp_path: Path) -> None:
    path = tmp_path / "before.sqlite3"
    db = DatabaseSettings(url=f"sqlite+aiosqlite:///{path}")
    await upgrade(db, "0014_tenants")
    alice, cp, tx_alice, tx_nobody = (uuid.uuid4().hex for _ in range(4))
    created = "2026-01-02 03:04:05.000000"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, password_hash, role, active, token_version, created_at) "
                "VALUES (:id, 'a@example.se', 'x', 'driver', 1, 0, :at)"
            ),
            {"id": alice, "at": created},
        )
        conn.execute(
            sa.text(
                "INSERT INTO id_tokens (id, token, type, status, user_id, created_at) "
                "VALUES (:id, 'CARD-A', 'ISO14443', 'Accepted', :user, :at)"
            ),
            {"id": uuid.uuid4().hex, "user": alice, "at": created},
        )
        conn.execute(
            sa.text(
                "INSERT INTO charge_points (id, number, identity, password_hash, registration_status, connected, "
                "created_at) VALUES (:id, 1, 'MIG-1', 'x', 'Accepted', 0, :at)"
            ),
            {"id": cp, "at": created},
        )
        for tx, number, token in ((tx_alice, 1, "CARD-A"), (tx_nobody, 2, "CARD-UNKNOWN")):
            conn.execute(
                sa.text(
                    "INSERT INTO transactions (id, number, charge_point_id, charger_transaction_id, evse_number, "
                    "connector_number, id_token, status, started_at, energy_wh, offline, created_at, updated_at) "
                    "VALUES (:id, :n, :cp, :n, 1, 1, :token, 'completed', :at, 0, 0, :at, :at)"
                ),
                {"id": tx, "n": number, "cp": cp, "token": token, "at": created},
            )
        conn.execute(
            sa.text(
                "INSERT INTO login_attempts (key, window_start, failures) VALUES "
                "('account:a@example.se', :at, 6), ('address:10.0.0.1', :at, 3)"
            ),
            {"at": created},
        )
    await upgrade(db)
    with engine.connect() as conn:
        owners = dict(conn.execute(sa.text("SELECT id, user_id FROM transactions")).all())
        verified = conn.execute(sa.text("SELECT verified_at FROM users")).scalar_one()
        keys = conn.execute(sa.text("SELECT key FROM login_attempts")).scalars().all()
    engine.dispose()
    assert owners == {tx_alice: alice, tx_nobody: None}
    assert verified is not None and verified.startswith("2026-01-02 03:04:05")
    assert keys == ["address:10.0.0.1"]
