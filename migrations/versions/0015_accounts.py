"""accounts: a transaction's owner, verified e-mail addresses, sign-in back-off

Revision ID: 0015_accounts
Revises: 0014_tenants
Create Date: 2026-12-07 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_accounts"
down_revision: str | None = "0014_tenants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("user_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(op.f("fk_transactions_user_id_users"), "users", ["user_id"], ["id"])
        batch.create_index(op.f("ix_transactions_user_id"), ["user_id"])
    # Before this column a session was the driver's whose card it is now: the best record
    # of who held it there is.
    op.execute(
        "UPDATE transactions SET user_id = "
        "(SELECT user_id FROM id_tokens WHERE id_tokens.token = transactions.id_token)"
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
    # Every existing account could sign in: it stays so.
    op.execute("UPDATE users SET verified_at = created_at")
    with op.batch_alter_table("login_attempts") as batch:
        batch.add_column(sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True))
    # The old per-account counters would lock accounts out globally: drop them.
    op.execute("DELETE FROM login_attempts WHERE key LIKE 'account:%'")


def downgrade() -> None:
    with op.batch_alter_table("login_attempts") as batch:
        batch.drop_column("blocked_until")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("verified_at")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_index(op.f("ix_transactions_user_id"))
        batch.drop_constraint(op.f("fk_transactions_user_id_users"), type_="foreignkey")
        batch.drop_column("user_id")
