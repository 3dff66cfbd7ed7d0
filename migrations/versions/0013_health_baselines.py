"""health baselines (the anomaly detector's learned normal per EVSE)

Revision ID: 0013_health_baselines
Revises: 0012_uptime
Create Date: 2026-11-26 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_health_baselines"
down_revision: str | None = "0012_uptime"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_baselines",
        sa.Column("identity", sa.String(length=48), nullable=False),
        sa.Column("evse", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("identity", "evse", name=op.f("pk_health_baselines")),
    )


def downgrade() -> None:
    op.drop_table("health_baselines")
