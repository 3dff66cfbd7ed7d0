"""tariffs and tariff assignments

Revision ID: 0004_tariffs
Revises: 0003
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_tariffs"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tariffs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price_per_kwh_minor", sa.Integer(), nullable=False),
        sa.Column("price_per_minute_minor", sa.Integer(), nullable=False),
        sa.Column("session_fee_minor", sa.Integer(), nullable=False),
        sa.Column("idle_fee_per_minute_minor", sa.Integer(), nullable=False),
        sa.Column("idle_grace_minutes", sa.Integer(), nullable=False),
        sa.Column("vat_rate_bp", sa.Integer(), nullable=False),
        sa.Column("min_price_minor", sa.Integer(), nullable=True),
        sa.Column("max_price_minor", sa.Integer(), nullable=True),
        sa.Column("hold_amount_minor", sa.Integer(), nullable=False),
        sa.Column("bands", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_tariffs_operator_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariffs")),
    )
    with op.batch_alter_table("tariffs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tariffs_operator_id"), ["operator_id"], unique=False)

    op.create_table(
        "tariff_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("tariff_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_tariff_assignments_operator_id_operators")
        ),
        sa.ForeignKeyConstraint(["tariff_id"], ["tariffs.id"], name=op.f("fk_tariff_assignments_tariff_id_tariffs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_assignments")),
        sa.UniqueConstraint("scope", "target_id", name=op.f("uq_tariff_assignments_scope_target_id")),
    )
    with op.batch_alter_table("tariff_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tariff_assignments_tariff_id"), ["tariff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tariff_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tariff_assignments_tariff_id"))
    op.drop_table("tariff_assignments")
    with op.batch_alter_table("tariffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tariffs_operator_id"))
    op.drop_table("tariffs")
