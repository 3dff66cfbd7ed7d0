"""web checkout: receipt links and payer e-mail

Revision ID: 0008_checkout
Revises: 0007_charger_search
Create Date: 2026-11-25 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_checkout"
down_revision: str | None = "0007_charger_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkout_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_checkout_links_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_links")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_checkout_links_payment_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_checkout_links_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("checkout_links")
