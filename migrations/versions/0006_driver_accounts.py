"""driver accounts: token versions, payment customers, login throttling

Revision ID: 0006_driver_accounts
Revises: 0005_payments
Create Date: 2026-11-25 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_driver_accounts"
down_revision: str | None = "0005_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing access tokens carry no "ver" claim and count as version 0: still valid.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))

    op.create_table(
        "login_attempts",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_attempts")),
    )
    op.create_table(
        "payment_customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("customer_ref", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_payment_customers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_customers")),
        sa.UniqueConstraint("user_id", "provider", name=op.f("uq_payment_customers_user_id_provider")),
    )
    op.create_table(
        "hidden_payment_methods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("method_ref", sa.String(length=255), nullable=False),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_hidden_payment_methods_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hidden_payment_methods")),
        sa.UniqueConstraint(
            "user_id",
            "provider",
            "method_ref",
            name=op.f("uq_hidden_payment_methods_user_id_provider_method_ref"),
        ),
    )


def downgrade() -> None:
    op.drop_table("hidden_payment_methods")
    op.drop_table("payment_customers")
    op.drop_table("login_attempts")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_version")
