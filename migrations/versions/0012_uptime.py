"""uptime exclusions

Revision ID: 0012_uptime
Revises: 0011_operator_webhooks
Create Date: 2026-11-25 20:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_uptime"
down_revision: str | None = "0011_operator_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "uptime_exclusions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_uptime_exclusions_created_by_users")),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_uptime_exclusions_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uptime_exclusions")),
    )
    with op.batch_alter_table("uptime_exclusions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_uptime_exclusions_operator_id"), ["operator_id"], unique=False)
        batch_op.create_index("ix_uptime_exclusions_target", ["target_id", "starts_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("uptime_exclusions", schema=None) as batch_op:
        batch_op.drop_index("ix_uptime_exclusions_target")
        batch_op.drop_index(batch_op.f("ix_uptime_exclusions_operator_id"))

    op.drop_table("uptime_exclusions")
